"""Prepare for the token cut-off: per company and job scope, is a KSeF certificate ready?

For each scope (send, fetch, administer): which Authentication certificate could sign in, was
a session with it tested (and does its identity hold the scope's permission in the context),
and which credential the next job run will use. One button per missing piece: request a
certificate, test the sign-in, put certificates first."""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef import permissions as ksef_perms
from ..ksef.errors import KsefError
from ..models.ksef_access import SCOPES
from ..models.ksef_certificate import CertificateCredential
from ..models.ksef_exceptions import KsefRetryLater


class KsefCutoffReadiness(models.TransientModel):
    _name = "ksef.cutoff.readiness"
    _description = "Prepare for the KSeF Token Cut-off"

    company_id = fields.Many2one("res.company", required=True, readonly=True)
    cutoff = fields.Date(string="KSeF tokens usable until", readonly=True)
    auth_order = fields.Selection(related="company_id.ksef_auth_order", readonly=True)
    job_user_id = fields.Many2one("res.users", string="Jobs run as", readonly=True)
    line_ids = fields.One2many("ksef.cutoff.readiness.line", "readiness_id", readonly=True)
    ready = fields.Boolean(compute="_compute_ready")
    test_message = fields.Text(readonly=True)

    @api.depends("company_id")
    def _compute_display_name(self):
        for readiness in self:
            readiness.display_name = self.env._(
                "Prepare for the Token Cut-off: %(company)s", company=readiness.company_id.name
            )

    @api.depends("line_ids.tested")
    def _compute_ready(self):
        for readiness in self:
            readiness.ready = bool(readiness.line_ids) and all(readiness.line_ids.mapped("tested"))

    @api.model
    def action_open(self, company=None):
        company = (company or self.env.company).root_id
        self.env["ksef.access"]._ksef_check_admin(company)
        readiness = self.create(
            {
                "company_id": company.id,
                "cutoff": self.env["ksef.access"]._ksef_token_cutoff(),
                "job_user_id": (company.sudo().ksef_job_user_id or self.env.user).id,
            }
        )
        readiness._ksef_fill()
        return readiness._reopen()

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Prepare for the Token Cut-off"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "current",
        }

    def _ksef_fill(self):
        """One line per job scope, from what Odoo holds (no KSeF call)."""
        self.ensure_one()
        company = self.company_id
        user = self.job_user_id
        lines = []
        for scope in SCOPES:
            certificate = self._ksef_ready_certificate(scope)
            granted = self._ksef_tested_grants(certificate)
            tested = granted is not None and ksef_perms.permissions_allow(scope, granted)
            plan = self.env["ksef.credential.choice"]._ksef_plan(company, scope, user)
            lines.append(
                (
                    0,
                    0,
                    {
                        "scope": scope,
                        "certificate_id": certificate.id,
                        "tested": tested,
                        "next_credential": plan.display_name
                        if plan
                        else self.env._("none: the run would fail"),
                        "next_kind": self.env["ir.model"]._get(plan._name).name if plan else False,
                    },
                )
            )
        self.line_ids = [(5, 0, 0), *lines]

    def _ksef_ready_certificate(self, scope):
        access = self.env["ksef.access"]
        candidates = self.env["ksef.credential.choice"]._ksef_certificate_candidates(
            self.company_id, self.job_user_id
        )
        for credential in candidates:
            if not access._ksef_certificate_problems(
                credential.certificate, scope, user=self.job_user_id, company=self.company_id
            ):
                return credential.certificate
        return self.env["ksef.certificate"]

    def _ksef_tested_grants(self, certificate):
        """The permissions a tested session of ``certificate`` found, or ``None``."""
        if not certificate:
            return None
        where = CertificateCredential(certificate, self.company_id)._ksef_session_where()
        from odoo.tools import SQL

        # a cursor of its own: the session row is committed by the factory's renewal cursor,
        # after this transaction's snapshot (a test sign-in in the same request)
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT granted_permissions FROM ksef_session WHERE %s AND last_auth_date "
                    "IS NOT NULL",
                    where,
                )
            )
            row = cr.fetchone()
        if not row or row[0] is None:
            return None
        return tuple(p for p in row[0].split(",") if p)

    # ------------------------------------------------------------------
    # ONE BUTTON PER MISSING PIECE
    # ------------------------------------------------------------------

    def action_request_certificate(self):
        self.ensure_one()
        return self.env["ksef.certificate"].action_ksef_open_request()

    def action_test_certificates(self):
        """Sign in with each certificate of the lines (cached afterwards) and record what
        its identity holds in the context."""
        self.ensure_one()
        self.env["ksef.access"]._ksef_check_admin(self.company_id)
        service = self.env["ksef.session.service"]
        messages = []
        for certificate in self.line_ids.certificate_id:
            try:
                with service._ksef_certificate_session(certificate, self.company_id) as session:
                    messages.append(
                        self.env._(
                            "%(name)s signed in; its identity holds: %(granted)s.",
                            name=certificate.display_name,
                            granted=", ".join(session.granted or ()) or "-",
                        )
                    )
            except (KsefError, KsefRetryLater, UserError) as e:
                messages.append(
                    self.env._(
                        "%(name)s did not sign in: %(reason)s",
                        name=certificate.display_name,
                        reason=self.env["ksef.messages"]._ksef_message(e),
                    )
                )
        if not messages:
            raise UserError(self.env._("There is no certificate to test yet: request one first."))
        self.test_message = "\n".join(messages)
        self._ksef_fill()
        return self._reopen()

    def action_certificates_first(self):
        self.ensure_one()
        self.env["ksef.access"]._ksef_check_admin(self.company_id)
        self.company_id.sudo().ksef_auth_order = "certificates_first"
        self._ksef_fill()
        return self._reopen()

    def action_refresh(self):
        self._ksef_fill()
        return self._reopen()
