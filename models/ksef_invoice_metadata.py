import logging
from datetime import timedelta

from odoo import api, fields, models

from ..ksef.client import parse_datetime
from .ksef_exceptions import KsefRetryLater
from .ksef_time import naive_utc

_logger = logging.getLogger(__name__)

#: KSeF answers at most 3 months per metadata query (REFERENCE §8)
MAX_RANGE = timedelta(days=90)
#: how far back the first fetch of a company looks
FIRST_FETCH = timedelta(days=30)
#: page size of ``POST /invoices/query/metadata`` (KSeF: 10-250)
PAGE_SIZE = 100
#: the next run re-reads this much before the last end (late-indexed invoices; duplicates are
#: skipped by KSeF number)
OVERLAP = timedelta(minutes=10)
#: pages read per company and run at most (the metadata limit is 20 requests per hour)
MAX_PAGES = 10


class KsefInvoiceMetadata(models.Model):
    """Purchase invoices (the company is the buyer) as KSeF lists them: metadata only.

    Filled by the reference fetch job (:meth:`_cron_ksef_fetch_purchase_invoices`), which uses
    the KSeF session service with the P scope, as the company's KSeF jobs user."""

    _name = "ksef.invoice.metadata"
    _description = "KSeF Purchase Invoice (metadata)"
    _order = "permanent_storage_date desc, id desc"
    _rec_name = "ksef_number"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    ksef_number = fields.Char(string="KSeF Number", required=True, readonly=True, index=True)
    invoice_number = fields.Char(readonly=True)
    issue_date = fields.Date(readonly=True)
    permanent_storage_date = fields.Datetime(string="Stored in KSeF", readonly=True)
    seller_nip = fields.Char(string="Seller NIP", readonly=True, index=True)
    seller_name = fields.Char(readonly=True)
    net_amount = fields.Float(readonly=True, digits=(16, 2))
    vat_amount = fields.Float(string="VAT Amount", readonly=True, digits=(16, 2))
    gross_amount = fields.Float(readonly=True, digits=(16, 2))
    currency = fields.Char(readonly=True)
    invoice_type = fields.Char(readonly=True)
    invoicing_mode = fields.Char(readonly=True)

    _sql_constraints = [
        (
            "ksef_number_company_unique",
            "UNIQUE(company_id, ksef_number)",
            "This KSeF invoice is already listed for the company.",
        ),
    ]

    # ------------------------------------------------------------------
    # FETCH JOB
    # ------------------------------------------------------------------

    @api.model
    def _cron_ksef_fetch_purchase_invoices(self):
        """Reference job: for each company with a KSeF jobs user, read the metadata of its
        purchase invoices stored in KSeF since the last run, as that user (P scope)."""
        retry_after = 0
        self.env["ksef.token"]._ksef_log_invalid_key("KSeF purchase invoice fetch")
        companies = self.env["res.company"].sudo().search([("ksef_job_user_id", "!=", False)])
        for company in companies:
            try:
                self._ksef_fetch_company(company)
            except KsefRetryLater as e:
                _logger.info("KSeF fetch for company %s postponed %s s", company.id, e.retry_after)
                retry_after = max(retry_after, e.retry_after)
            except Exception as e:  # noqa: BLE001 - one company never blocks the others
                _logger.warning(
                    "KSeF fetch for company %s failed: %s", company.id, type(e).__name__
                )
                company.sudo().ksef_fetch_message = str(e)[:1000]
        if retry_after:
            self.env["ksef.session.service"]._ksef_reschedule(
                "l10n_pl_ksef_token.ir_cron_ksef_fetch_purchase_invoices", retry_after
            )

    @api.model
    def _ksef_fetch_company(self, company):
        """Fetch one company's new purchase invoice metadata as its jobs user; returns the
        records created."""
        user = company.ksef_job_user_id
        env = self.env(
            user=user.id, su=False, context={"allowed_company_ids": user.company_ids.ids}
        )
        Metadata = env[self._name]
        Metadata.check_access("create")
        company = env["res.company"].browse(company.id)
        self.env["ksef.access"]._ksef_check_acting_user(user, company, "fetch")
        now = fields.Datetime.now()
        watermark = company.sudo().ksef_fetch_watermark
        start = watermark - OVERLAP if watermark else now - FIRST_FETCH
        end = min(start + MAX_RANGE, now)

        def fetch(session):
            invoices = []
            for page in range(MAX_PAGES):
                items, has_more, _truncated = session.client.query_invoice_metadata(
                    session.access_token,
                    subject_type="Subject2",
                    date_type="PermanentStorage",
                    date_from=start,
                    date_to=end,
                    page_offset=page,
                    page_size=PAGE_SIZE,
                    sort_order="Asc",
                )
                invoices.extend(items)
                if not has_more:
                    break
            return invoices

        invoices = env["ksef.session.service"].call(company, "fetch", fetch)
        created = Metadata._ksef_store_metadata(company, invoices)
        stored = [
            naive_utc(parse_datetime(i["permanentStorageDate"]))
            for i in invoices
            if i.get("permanentStorageDate")
        ]
        # the next run starts at the last invoice read (duplicates are skipped by KSeF number),
        # or at the end of the range when it was read whole
        watermark = max(stored) if len(invoices) >= MAX_PAGES * PAGE_SIZE and stored else end
        company.sudo().write(
            {
                "ksef_fetch_watermark": watermark,
                "ksef_fetch_message": self.env._(
                    "%(count)s new purchase invoices read from KSeF on %(date)s.",
                    count=len(created),
                    date=now,
                ),
            }
        )
        return created

    @api.model
    def _ksef_store_metadata(self, company, invoices):
        known = set(
            self.search([("company_id", "=", company.id)]).mapped("ksef_number")
        )  # the company's list is small enough; a real importer would batch this
        values = []
        for item in invoices:
            number = item.get("ksefNumber")
            if not number or number in known:
                continue
            known.add(number)
            seller = item.get("seller") or {}
            storage = item.get("permanentStorageDate")
            values.append(
                {
                    "company_id": company.id,
                    "ksef_number": number,
                    "invoice_number": item.get("invoiceNumber"),
                    "issue_date": item.get("issueDate"),
                    "permanent_storage_date": naive_utc(parse_datetime(storage))
                    if storage
                    else False,
                    "seller_nip": seller.get("nip"),
                    "seller_name": seller.get("name"),
                    "net_amount": item.get("netAmount") or 0.0,
                    "vat_amount": item.get("vatAmount") or 0.0,
                    "gross_amount": item.get("grossAmount") or 0.0,
                    "currency": item.get("currency"),
                    "invoice_type": item.get("invoiceType"),
                    "invoicing_mode": item.get("invoicingMode"),
                }
            )
        return self.create(values)
