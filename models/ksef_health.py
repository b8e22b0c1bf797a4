"""Health of the token registry: warning activities when a token stopped working in KSeF
(revoked or failed there, not revoked on purpose from Odoo), when a token's end approaches
(its expiry date, at the latest the legal end of KSeF tokens), and when a company has no
usable token for sending or fetching invoices.

One open activity per reason: per token for a token's reason (on the token), per company for
a company's (on the company). Each goes to one user, the company's KSeF responsible
(``res.company._ksef_responsible``), in that user's language, and names the date and the
reason. Running the job again changes nothing; a reason that went away closes its activity."""

import logging
from datetime import timedelta

from odoo import api, fields, models

from ..ksef.permissions import OPERATION_PERMISSIONS

_logger = logging.getLogger(__name__)

WARNING_TYPE = "mail.mail_activity_data_warning"
#: health reasons, as stored in ``mail.activity.ksef_health_key``
STOPPED, ENDS, NO_SEND, NO_FETCH = (
    "token_stopped",
    "token_ends",
    "company_no_send",
    "company_no_fetch",
)
#: a KSeF refusal that is not the token's end (e.g. a missing permission); closed by hand
REFUSED = "token_refused"
#: a certificate's end approaches; a company has no certificate ready for the token cut-off
CERTIFICATE_ENDS, NO_CERTIFICATE = "certificate_ends", "company_no_certificate"
LIMITS_LOW = "company_certificate_limits"
#: at or below this many requests (or active certificates) left, the company is warned
LIMITS_LOW_AT = 2
COMPANY_REASONS = {"send": NO_SEND, "fetch": NO_FETCH}


class KsefHealth(models.AbstractModel):
    _name = "ksef.health"
    _description = "KSeF Health Warnings"

    @api.model
    def _ksef_legal_end(self):
        """The last day KSeF tokens may be used (the setting "KSeF tokens usable until")."""
        return self.env["ksef.access"]._ksef_token_cutoff()

    # -- the job ---------------------------------------------------------------------------

    @api.model
    def _cron_ksef_health(self, today=None):
        """Open, update or close one warning per reason; returns the tokens warned about."""
        today = today or fields.Date.context_today(self)
        Token = self.env["ksef.token"].sudo().with_context(active_test=False)
        Token._ksef_log_invalid_key("KSeF token health check")
        warned = Token.browse()
        for token in Token.search([("origin", "!=", "found")]):
            stopped = self._ksef_stopped_working(token)
            self._ksef_set_warning(
                token,
                STOPPED,
                (lambda env, t=token: self.with_env(env)._ksef_stopped_texts(t.with_env(env)))
                if stopped
                else None,
            )
            ends = (
                token.active
                and token.state == "active"
                and token.end_date - timedelta(days=token.company_id.ksef_warning_days) <= today
            )
            self._ksef_set_warning(
                token,
                ENDS,
                (lambda env, t=token: self.with_env(env)._ksef_ends_texts(t.with_env(env)))
                if ends
                else None,
                deadline=token.end_date,
            )
            if stopped or ends:
                warned |= token
        self._ksef_warn_companies_without_token()
        self._ksef_warn_certificates(today)
        return warned

    # -- certificates ---------------------------------------------------------------------

    @api.model
    def _ksef_warn_certificates(self, today):
        """One warning per certificate whose end is within the company's warning window, and
        one per company that has no active Authentication certificate when the token cut-off
        is within it. Returns the certificates warned about."""
        Certificate = self.env["ksef.certificate"].sudo()
        warned = Certificate.browse()
        for certificate in Certificate.search([("origin", "=", "enrolled")]):
            end = certificate.valid_to and certificate.valid_to.date()
            window = timedelta(days=certificate.company_id.ksef_warning_days)
            ends = certificate.state == "active" and end and end - window <= today
            _set_warning(
                certificate,
                CERTIFICATE_ENDS,
                (lambda env, c=certificate: self.with_env(env)._ksef_certificate_ends_texts(c))
                if ends
                else None,
                certificate.company_id,
                deadline=end if ends else None,
            )
            if ends:
                warned |= certificate
        cutoff = self._ksef_legal_end()
        ready = Certificate.search(
            [("certificate_type", "=", "Authentication"), ("state", "=", "active")]
        ).filtered("has_secret")
        companies = (
            self.env["res.company"]
            .sudo()
            .search([("ksef_nip", "!=", False), ("parent_id", "=", False)])
        )
        for company in companies:
            requests_left = company.ksef_certificate_requests_left
            certificates_left = company.ksef_certificates_left
            low = 0 <= requests_left <= LIMITS_LOW_AT or 0 <= certificates_left <= LIMITS_LOW_AT
            _set_warning(
                company,
                LIMITS_LOW,
                (lambda env, c=company: self.with_env(env)._ksef_limits_low_texts(c))
                if low
                else None,
                company,
            )
            near = cutoff - timedelta(days=company.ksef_warning_days) <= today
            missing = near and company not in ready.company_id
            _set_warning(
                company,
                NO_CERTIFICATE,
                (lambda env, c=company: self.with_env(env)._ksef_no_certificate_texts(c))
                if missing
                else None,
                company,
                deadline=cutoff if missing else None,
            )
        return warned

    @api.model
    def _ksef_certificate_ends_texts(self, certificate):
        certificate = certificate.with_env(self.env)
        end = fields.Date.to_string(certificate.valid_to.date())
        return (
            self.env._(
                "KSeF certificate %(name)s ends on %(date)s",
                name=certificate.display_name,
                date=end,
            ),
            self.env._(
                "The KSeF certificate %(name)s stops working on %(date)s. Request its "
                "replacement before that day (KSeF > Request Certificate).",
                name=certificate.display_name,
                date=end,
            ),
        )

    @api.model
    def _ksef_limits_low_texts(self, company):
        company = company.with_env(self.env)
        return (
            self.env._("KSeF certificate limits of %(company)s run low", company=company.name),
            self.env._(
                "KSeF lets %(company)s request %(requests)s more certificates and hold "
                "%(certificates)s more active ones. Revoke certificates that are no longer used "
                "(KSeF > Certificates) before requesting new ones.",
                company=company.name,
                requests=company.ksef_certificate_requests_left,
                certificates=company.ksef_certificates_left,
            ),
        )

    @api.model
    def _ksef_no_certificate_texts(self, company):
        cutoff = fields.Date.to_string(self._ksef_legal_end())
        return (
            self.env._(
                "%(company)s has no KSeF certificate for the token cut-off on %(date)s",
                company=company.with_env(self.env).name,
                date=cutoff,
            ),
            self.env._(
                "KSeF tokens may be used until %(date)s. %(company)s has no active KSeF "
                "Authentication certificate with its key in Odoo, so its KSeF jobs will stop "
                "then. Request one (KSeF > Request Certificate) and test it (KSeF > Prepare for "
                "the Token Cut-off).",
                date=cutoff,
                company=company.with_env(self.env).name,
            ),
        )

    @api.model
    def _ksef_stopped_working(self, token):
        """KSeF revoked or refused the token, and nobody revoked it on purpose from Odoo."""
        token.ensure_one()
        return token.active and token.state in ("revoked", "failed") and not token.revoked_from_odoo

    @api.model
    def _ksef_stopped_texts(self, token):
        state = dict(token._fields["state"]._description_selection(self.env))[token.state]
        # Not inline in the _() call: Babel's extractor evaluates every string token of the
        # call, and an f-string there aborts the extraction of this whole file.
        details = f" {token.status_details}" if token.status_details else ""
        return (
            self.env._("KSeF token %(token)s stopped working", token=token.display_name),
            self.env._(
                "KSeF reports the token %(token)s as %(state)s (found on %(date)s), so Odoo can "
                "no longer use it. Generate or import a replacement (KSeF > Tokens), then "
                "archive this token.%(details)s",
                token=token.display_name,
                state=state,
                date=fields.Date.to_string(fields.Date.context_today(self)),
                details=details,
            ),
        )

    @api.model
    def _ksef_ends_texts(self, token):
        end = fields.Date.to_string(token.end_date)
        legal_end = self._ksef_legal_end()
        if token.expiry_date and token.expiry_date < legal_end:
            why = self.env._("its expiry date in KSeF")
        else:
            why = self.env._(
                "the legal end of KSeF tokens (%(date)s): after it, only KSeF certificates work",
                date=fields.Date.to_string(legal_end),
            )
        return (
            self.env._("KSeF token %(token)s ends on %(date)s", token=token.display_name, date=end),
            self.env._(
                "The token %(token)s stops working on %(date)s because of %(why)s. Prepare its "
                "replacement before that day (KSeF > Tokens).",
                token=token.display_name,
                date=end,
                why=why,
            ),
        )

    # -- companies without a usable token --------------------------------------------------

    @api.model
    def _ksef_warn_companies_without_token(self):
        """One open warning per company and operation (send, fetch) that no usable token
        covers, on the company; it is closed once a token covers the company again."""
        companies = self.env["res.company"].sudo().search([("ksef_nip", "!=", False)])
        for operation, key in COMPANY_REASONS.items():
            missing = self._ksef_companies_without_token(operation)
            for company in companies:
                texts = None
                if company in missing:

                    def texts(env, c=company, o=operation):
                        return self.with_env(env)._ksef_missing_token_texts(o, c.with_env(env))

                _set_warning(company, key, texts, company)

    @api.model
    def _ksef_missing_token_texts(self, operation, company):
        if operation == "send":
            return (
                self.env._(
                    "No KSeF token for sending invoices of %(company)s", company=company.name
                ),
                self.env._(
                    "%(company)s has no active KSeF token with the InvoiceWrite permission, so "
                    "Odoo cannot send its invoices to KSeF. Generate or import one "
                    "(KSeF > Tokens).",
                    company=company.name,
                ),
            )
        return (
            self.env._("No KSeF token for fetching invoices of %(company)s", company=company.name),
            self.env._(
                "%(company)s has no active KSeF token with the InvoiceRead permission, so Odoo "
                "cannot fetch its invoices from KSeF. Generate or import one (KSeF > Tokens).",
                company=company.name,
            ),
        )

    @api.model
    def _ksef_companies_without_token(self, operation):
        """Companies with a NIP that no usable token covers for ``operation``."""
        usable = (
            self.env["ksef.token"]
            .sudo()
            .search(
                [
                    ("state", "=", "active"),
                    ("has_secret", "=", True),
                    ("permission_ids.name", "in", OPERATION_PERMISSIONS[operation]),
                ]
            )
        )
        covered = usable.assigned_company_ids | usable.company_id
        return self.env["res.company"].sudo().search([("ksef_nip", "!=", False)]) - covered

    # -- one warning per reason ------------------------------------------------------------

    @api.model
    def _ksef_set_warning(self, token, key, texts, deadline=None):
        """``token``'s one warning for ``key`` (see :func:`_set_warning`)."""
        token.ensure_one()
        return _set_warning(token, key, texts, token.company_id, deadline)

    @api.model
    def _ksef_warn_refused(self, token, reason):
        """The session factory found ``token`` refused (it stopped working) or short of a
        permission: one warning to the company's responsible, in their language. The health
        job closes a "stopped working" warning once the token is archived; a permission
        warning stays until someone marks it done."""
        token.ensure_one()
        if self._ksef_stopped_working(token):
            self._ksef_set_warning(
                token,
                STOPPED,
                lambda env: self.with_env(env)._ksef_stopped_texts(token.with_env(env)),
            )
            return

        def texts(env):
            return (
                env._(
                    "KSeF refused a request of token %(token)s",
                    token=token.with_env(env).display_name,
                ),
                env._(
                    "%(reason)s Odoo corrected the token's permissions; generate a token with "
                    "the missing permission if this company needs it (KSeF > Tokens).",
                    reason=reason,
                ),
            )

        self._ksef_set_warning(token, REFUSED, texts)


def _set_warning(record, key, texts, company, deadline=None):
    """Open, update or close ``record``'s one warning activity for ``key``. ``texts`` is
    None (the reason is gone: the warning is marked done) or ``texts(env)`` -> (summary,
    note), called with an environment in the recipient's language."""
    record = record.sudo()
    warning = record.env.ref(WARNING_TYPE)
    open_warnings = record.activity_ids.filtered(
        lambda a: a.ksef_health_key == key and a.activity_type_id == warning
    )
    if texts is None:
        if open_warnings:
            env = company._ksef_in_lang(record, open_warnings[:1].user_id).env
            open_warnings.with_env(env).action_feedback(
                feedback=env._("Resolved: KSeF checked again and the reason is gone.")
            )
        return record.env["mail.activity"]
    user = company._ksef_responsible()
    summary, note = texts(company._ksef_in_lang(record, user).env)
    values = {"summary": summary[:250], "note": note, "user_id": user.id}
    if deadline:
        values["date_deadline"] = deadline
    if not open_warnings:
        activity = record.activity_schedule(WARNING_TYPE, **values)
        activity.ksef_health_key = key
        return activity
    first = open_warnings[:1]
    (open_warnings - first).unlink()
    if (
        first.summary != values["summary"]
        or first.user_id != user
        or (deadline and first.date_deadline != deadline)
    ):
        first.write(values)
    return first
