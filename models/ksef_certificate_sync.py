"""The certificate inventory: what KSeF holds for each company's identity, in Odoo.

``POST /certificates/query`` in pages of 50 with a session of the company's own identity:
known certificates get their status, validity and last use; certificates made elsewhere (the
taxpayer application, other programs) appear as "found in KSeF" for review; certificates
requested from Odoo that KSeF has issued since are retrieved and stored with their key.
"""

import logging

from odoo import api, models
from odoo.exceptions import UserError

from ..ksef.errors import KsefError
from .ksef_exceptions import KsefRetryLater

_logger = logging.getLogger(__name__)


class KsefCertificateSync(models.AbstractModel):
    _name = "ksef.certificate.sync"
    _description = "KSeF Certificate Sync"

    @api.model
    def _ksef_sync_now(self):
        """The Sync button of the certificate list: every company of the user."""
        companies = self.env.user.company_ids
        self.env["ksef.access"]._ksef_check_admin(companies)
        Token = self.env["ksef.token"]
        failures, totals = [], {"updated": 0, "found": 0, "issued": 0}
        for environment, company in self._ksef_sync_contexts(companies):
            try:
                counts = self.sudo()._ksef_sync_company(environment, company)
            except (KsefError, KsefRetryLater, UserError) as e:
                failures.append(f"{company.name}: {self.env['ksef.messages']._ksef_message(e)}")
                continue
            for key, value in counts.items():
                totals[key] += value
        if failures:
            return Token._ksef_notify("\n".join(failures), "warning")
        return Token._ksef_notify(
            self.env._(
                "Certificates synced with KSeF: %(updated)s updated, %(found)s found in KSeF, "
                "%(issued)s issued since they were requested.",
                **totals,
            ),
            "success",
        )

    @api.model
    def _ksef_sync_contexts(self, companies):
        """``(environment, company)``: the companies' KSeF environments, and those their
        certificates are in."""
        pairs = {(c.ksef_environment, c) for c in companies if c.ksef_nip and not c.parent_id}
        Certificate = self.env["ksef.certificate"].sudo().with_context(active_test=False)
        for environment, company in Certificate._read_group(
            [("company_id", "in", companies.ids)], ["environment", "company_id"]
        ):
            pairs.add((environment, company))
        return sorted(pairs, key=lambda p: (p[1].id, p[0] or ""))

    @api.model
    def _ksef_sync_company(self, environment, company):
        """Sync one company's certificates in ``environment``; returns the counts.

        :raises UserError: Odoo holds no credential of the company's own identity
        """
        session = self.env["ksef.session.service"]._ksef_subject_session(environment, company)
        if not session:
            raise UserError(
                self.env._(
                    "Odoo holds neither a KSeF certificate nor an administrator token of "
                    "%(company)s to read its certificates with.",
                    company=company.name,
                )
            )
        Certificate = self.env["ksef.certificate"].sudo().with_context(active_test=False)
        counts = {"updated": 0, "found": 0, "issued": 0}
        with session:
            self._ksef_record_limits(session, company)
            requested = Certificate.search(
                [
                    ("company_id", "=", company.id),
                    ("environment", "=", environment),
                    ("state", "=", "requested"),
                    ("enrollment_reference", "!=", False),
                ]
            )
            for certificate in requested:
                counts["issued"] += self._ksef_follow_request(session, certificate)
            infos = session.run(
                lambda jwt: list(session.client.iter_certificates(jwt, page_size=50))
            )
            known = {
                c.serial_number: c
                for c in Certificate.search(
                    [("environment", "=", environment), ("serial_number", "!=", False)]
                )
            }
            for info in infos:
                certificate = known.get(info.serial_number)
                if certificate:
                    certificate.write(Certificate._ksef_values_from_info(info))
                    counts["updated"] += 1
                else:
                    Certificate.create(
                        dict(
                            Certificate._ksef_values_from_info(info, new=True),
                            company_id=company.id,
                            environment=environment,
                            origin="found",
                            scope="company"
                            if info.subject_identifier and info.subject_identifier.type == "Nip"
                            else "user",
                        )
                    )
                    counts["found"] += 1
        return counts

    @api.model
    def _ksef_record_limits(self, session, company):
        """Keep KSeF's certificate limits of the company's identity, for the health warning."""
        try:
            limits = self.env["ksef.certificate.enrolment"]._ksef_limits(session)
        except (KsefError, KsefRetryLater):
            return
        company.sudo().write(
            {
                "ksef_certificate_requests_left": limits.enrollment_remaining,
                "ksef_certificates_left": limits.certificate_remaining,
            }
        )

    @api.model
    def _cron_ksef_certificate_sync(self):
        """Part of the sync cron: every company's certificates (requests KSeF finished since,
        status, validity, certificates made elsewhere)."""
        companies = self.env["res.company"].sudo().search([("ksef_nip", "!=", False)])
        for environment, company in self._ksef_sync_contexts(companies):
            if (
                not self.env["ksef.certificate"]
                .sudo()
                .search_count([("company_id", "=", company.id), ("environment", "=", environment)])
            ):
                continue  # nothing to follow; certificates made elsewhere come with Sync
            try:
                self._ksef_sync_company(environment, company)
            except (KsefError, KsefRetryLater, UserError) as e:
                _logger.warning(
                    "KSeF certificate sync of %s (%s) failed: %s",
                    company.id,
                    environment,
                    type(e).__name__,
                )

    @api.model
    def _ksef_follow_request(self, session, certificate):
        """A request KSeF had not finished: retrieve the certificate once issued; a rejected
        one is marked and its key discarded. Returns 1 when it was issued now."""
        status = session.run(session.client.get_enrollment_status, certificate.enrollment_reference)
        if status.pending:
            return 0
        if status.failed:
            certificate.write(
                {
                    "state": "failed",
                    "status_details": status.description or str(status.code),
                }
            )
            certificate._ksef_wipe_secret()
            return 0
        return int(
            self.env["ksef.certificate.enrolment"]._ksef_store_issued(
                session, certificate, status.serial_number
            )
        )
