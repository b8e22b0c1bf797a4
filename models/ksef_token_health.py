"""Health of the token registry: activities for the KSeF administrators when a token stopped
working (revoked or failed in KSeF), when a token's end approaches (its expiry date, at the
latest the legal end of KSeF tokens on 2026-12-31), and when a company has no usable token
for sending or fetching invoices."""

import logging
from datetime import date, timedelta

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

#: under the 2025 regulation, KSeF tokens may be used until this day at the latest
LEGAL_END = date(2026, 12, 31)
WARN_BEFORE = timedelta(days=30)
ADMIN_GROUP = "l10n_pl_ksef_token.group_ksef_admin"


class KsefToken(models.Model):
    _name = "ksef.token"
    _inherit = ["ksef.token", "mail.activity.mixin"]

    end_date = fields.Date(
        compute="_compute_end_date",
        help="When the token stops working: its expiry date, at the latest 31 December 2026.",
    )

    @api.depends("expiry_date")
    def _compute_end_date(self):
        for token in self:
            token.end_date = min(token.expiry_date or LEGAL_END, LEGAL_END)

    @api.model
    def _cron_ksef_health(self, today=None):
        """Schedule (once) a warning activity for the administrators of each problem."""
        today = today or fields.Date.context_today(self)
        Token = self.sudo()
        dead = Token.search(
            [
                ("state", "in", ("revoked", "failed")),
                ("origin", "!=", "found"),
                ("has_secret", "=", False),
            ]
        ).filtered(lambda t: t.last_sync_date or t.status_details or t.state == "failed")
        for token in dead:
            token._ksef_warn(
                self.env._("KSeF token stopped working"),
                self.env._(
                    "The token is %(state)s in KSeF. Generate or import a replacement.",
                    state=dict(self._fields["state"]._description_selection(self.env))[token.state],
                ),
            )
        ending = Token.search([("state", "=", "active")]).filtered(
            lambda t: t.end_date - WARN_BEFORE <= today
        )
        for token in ending:
            token._ksef_warn(
                self.env._("KSeF token ends soon"),
                self.env._("The token stops working on %(date)s.", date=token.end_date),
            )
        self._ksef_warn_companies_without_token()
        return dead | ending

    @api.model
    def _ksef_missing_token_summaries(self):
        return {
            "send": self.env._("No KSeF token for sending invoices"),
            "fetch": self.env._("No KSeF token for fetching invoices"),
        }

    @api.model
    def _ksef_warn_companies_without_token(self):
        """One open warning activity per company and operation (send, fetch) that no usable
        token covers, on the company's partner (``res.company`` has no chatter); the open
        warning goes away once a token covers the company again."""
        warning = self.env.ref("mail.mail_activity_data_warning")
        companies = self.env["res.company"].sudo().search([("ksef_nip", "!=", False)])
        for operation, summary in self._ksef_missing_token_summaries().items():
            missing = self._ksef_companies_without_token(operation)
            for company in companies:
                partner = company.partner_id
                open_warnings = partner.activity_ids.filtered(
                    lambda a, s=summary: a.activity_type_id == warning and a.summary == s
                )
                if company not in missing:
                    open_warnings.unlink()
                elif not open_warnings:
                    partner.activity_schedule(
                        "mail.mail_activity_data_warning",
                        summary=summary,
                        note=self._ksef_missing_token_note(operation, company),
                        user_id=self._ksef_admin_of(company).id,
                    )

    @api.model
    def _ksef_missing_token_note(self, operation, company):
        if operation == "send":
            return self.env._(
                "%(company)s has no active KSeF token with the InvoiceWrite permission, so "
                "Odoo cannot send its invoices to KSeF. Generate or import one (KSeF > Tokens).",
                company=company.name,
            )
        return self.env._(
            "%(company)s has no active KSeF token with the InvoiceRead permission, so Odoo "
            "cannot fetch its invoices from KSeF. Generate or import one (KSeF > Tokens).",
            company=company.name,
        )

    @api.model
    def _ksef_admin_of(self, company):
        """The KSeF administrator who gets ``company``'s warnings (else the administrator)."""
        admins = self.env.ref(ADMIN_GROUP).users.filtered(
            lambda u: company in u.company_ids and not u.share and u.active
        )
        return admins[:1] or self.env.ref("base.user_admin")

    @api.model
    def _ksef_companies_without_token(self, operation):
        """Companies with a NIP that no usable token covers for ``operation``."""
        permission = {"send": "InvoiceWrite", "fetch": "InvoiceRead"}[operation]
        usable = self.sudo().search(
            [
                ("state", "=", "active"),
                ("has_secret", "=", True),
                ("permission_ids.name", "=", permission),
            ]
        )
        covered = usable.assigned_company_ids | usable.company_id
        return self.env["res.company"].sudo().search([("ksef_nip", "!=", False)]) - covered

    def _ksef_warn(self, summary, note):
        self.ensure_one()
        if self.activity_ids.filtered(lambda a: a.summary == summary):
            return
        user = self._ksef_admin_of(self.company_id)
        self.activity_schedule(
            "mail.mail_activity_data_warning", summary=summary, note=note, user_id=user.id
        )
