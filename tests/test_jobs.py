from odoo import fields
from odoo.tests import tagged

from .session_common import AUTH, KsefSessionCase

SUPPLIER_NIP = "7352765225"
METADATA = "POST /invoices/query/metadata"


@tagged("post_install", "-at_install")
class TestFetchJob(KsefSessionCase):
    def setUp(self):
        super().setUp()
        self.Metadata = self.env["ksef.invoice.metadata"]
        self.cron = self.env.ref("l10n_pl_ksef_token.ir_cron_ksef_fetch_purchase_invoices")

    def run_fetch(self):
        self.Metadata._cron_ksef_fetch_purchase_invoices()

    def listed(self):
        return self.Metadata.search([("company_id", "=", self.company_a.id)])

    def test_fetches_purchase_invoices_once(self):
        self.sim_token(("InvoiceRead",))
        self.sim.seed_invoices(self.company_a.ksef_nip, count=3, partner_nip=SUPPLIER_NIP)
        self.company_a.ksef_job_user_id = self.fetch_a
        self.run_fetch()
        invoices = self.listed()
        self.assertEqual(len(invoices), 3)  # the 3 sales invoices are not listed
        self.assertEqual(set(invoices.mapped("seller_nip")), {SUPPLIER_NIP})
        self.assertTrue(all(i.gross_amount == 123.0 and i.currency == "PLN" for i in invoices))
        self.assertIn("3 new purchase invoices", self.company_a.ksef_fetch_message)
        # a new invoice, and a second run: no duplicate, no new authentication
        self.sim.add_invoice(
            SUPPLIER_NIP,
            self.company_a.ksef_nip,
            net=1000,
            vat=230,
            permanent_storage=self.sim.clock.now() - 5,
        )
        self.run_fetch()
        self.assertEqual(len(self.listed()), 4)
        self.assertEqual(self.sim.calls[AUTH], 1)
        # what the job wrote, the fetch user can read; a user of another company cannot
        self.assertEqual(len(self.Metadata.with_user(self.fetch_a).search([])), 4)
        self.assertFalse(self.Metadata.with_user(self.admin_b).search([]))

    def test_job_runs_with_the_job_users_rights(self):
        self.sim_token(("InvoiceRead", "InvoiceWrite"))
        self.sim.seed_invoices(self.company_a.ksef_nip, count=2, partner_nip=SUPPLIER_NIP)
        self.company_a.ksef_job_user_id = self.send_a  # a sender may not fetch invoices
        self.run_fetch()
        self.assertFalse(self.listed())
        self.assertEqual(self.sim.calls[AUTH], 0)
        self.assertTrue(self.company_a.ksef_fetch_message)
        # no jobs user: the company is left alone
        self.company_a.ksef_job_user_id = False
        self.run_fetch()
        self.assertEqual(self.sim.calls[METADATA], 0)

    def test_rate_limit_reschedules_the_job(self):
        self.sim_token(("InvoiceRead",))
        self.company_a.ksef_job_user_id = self.fetch_a
        self.run_fetch()
        self.sim.config.rate_limits = {"invoiceMetadata": (1, 1, 1)}
        self.run_fetch()  # allowed: the first query of the window
        before = fields.Datetime.now()
        self.run_fetch()  # 429
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)])
        self.assertTrue(triggers)
        self.assertGreater(max(triggers.mapped("call_at")), before)
        self.assertEqual(self.sleeps, [])


@tagged("post_install", "-at_install")
class TestConnectivityJob(KsefSessionCase):
    def test_checks_each_token_and_marks_the_revoked_one(self):
        good = self.sim_token(("InvoiceRead",), description="Working token")
        revoked = self.sim_token(("InvoiceRead",), description="Revoked elsewhere")
        self.sim.set_token_status(revoked.reference_number, "Revoked")
        self.company_a.ksef_job_user_id = self.admin_a
        self.env["ksef.connectivity"]._cron_ksef_check_connectivity()
        self.assertTrue(good.connectivity_ok)
        self.assertIn("Active", good.connectivity_message)
        self.assertTrue(good.last_use_date)  # KSeF recorded the authentication
        self.assertFalse(revoked.connectivity_ok)
        self.assertEqual(revoked.state, "revoked")
        self.assertTrue(
            self.env["mail.activity"].search(
                [("res_model", "=", "ksef.token"), ("res_id", "=", revoked.id)]
            )
        )

    def test_only_administrators_check(self):
        token = self.sim_token(("InvoiceRead",))
        self.company_a.ksef_job_user_id = self.fetch_a
        self.env["ksef.connectivity"]._cron_ksef_check_connectivity()
        self.assertFalse(token.connectivity_ok)
        self.assertIn("administrators", token.connectivity_message)
        self.assertEqual(self.sim.calls[AUTH], 0)
