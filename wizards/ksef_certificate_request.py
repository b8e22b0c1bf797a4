"""Request a KSeF certificate from Odoo, authorized exactly like token generation: a file
signed outside Odoo, or a certificate stored in Odoo. A token session cannot enrol.

Two steps after signing: **Check limits** logs in with the signature and shows KSeF's limits
and the subject the certificate will carry (nothing is requested yet; the session is kept
sealed in the wizard row, for its creator only); **Request certificate** enrols with that
session (``ksef.certificate.enrolment``)."""

import logging
import re

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef.errors import KsefError
from ..models import secret_vault
from ..models.ksef_certificate import CERTIFICATE_TYPES, KEY_TYPES
from ..models.ksef_exceptions import KsefRetryLater
from .ksef_token_import import wipes_inputs

_logger = logging.getLogger(__name__)

SESSION_AAD = "ksef.certificate.request:session"
#: what KSeF allows in a certificate name (the journal marker takes 14 of the 100 characters)
NAME_RE = re.compile(r"[a-zA-Z0-9_\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]{5,86}")


class KsefCertificateRequest(models.TransientModel):
    _name = "ksef.certificate.request"
    _inherit = "ksef.token.generate"
    _description = "Request a KSeF Certificate"

    holder = fields.Selection(
        [("company", "Company (seal)"), ("user", "Operator (person)")],
        string="For",
        required=True,
        default="company",
        help="Whose certificate: the company's (its seal signs the request) or an operator's "
        "(their own signature or Profil Zaufany signs it). A certificate has no branch.",
    )
    scope = fields.Selection(compute="_compute_scope", store=True, readonly=False)
    step = fields.Selection(selection_add=[("confirm", "Confirm")], ondelete={"confirm": "cascade"})
    auth_method = fields.Selection(
        selection_add=[("sandbox", "Sandbox: a practice seal Odoo makes (Sandbox only)")],
        ondelete={"sandbox": "set default"},
    )
    certificate_type = fields.Selection(CERTIFICATE_TYPES, required=True, default="Authentication")
    key_type = fields.Selection(KEY_TYPES, required=True, default="ec")
    description = fields.Char(
        string="Certificate Name", default=lambda self: self.env._("Odoo KSeF certificate")
    )
    limits_text = fields.Char(readonly=True)
    subject_text = fields.Char(readonly=True)
    session_sealed = fields.Char(copy=False)

    @api.depends("holder")
    def _compute_scope(self):
        for wizard in self:
            wizard.scope = wizard.holder

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            # the inherited scope has a default, which would win over the computation
            vals["scope"] = vals.get("holder") or "company"
        return super().create(vals_list)

    # ------------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------------

    @api.model
    def action_open(self, company=None):
        action = super().action_open(company=company)
        action.update(name=self.env._("Request a KSeF Certificate"), res_model=self._name)
        return action

    def _reopen(self):
        action = super()._reopen()
        action["name"] = self.env._("Request a KSeF Certificate")
        return action

    def action_check_limits(self):
        """Log in with the signature (or the stored certificate) and show KSeF's limits and
        the subject; nothing is requested."""
        self.ensure_one()
        self._ksef_check_input()
        session = self._ksef_login()
        enrolment = self.env["ksef.certificate.enrolment"]
        try:
            with session:
                limits = enrolment._ksef_limits(session)
                data = session.run(session.client.get_enrollment_data)
        except (KsefError, KsefRetryLater) as e:
            self._ksef_wipe_inputs(refused=True)
            raise UserError(self.env["ksef.messages"]._ksef_message(e)) from None
        subject = ", ".join(
            v
            for v in (
                data.common_name,
                data.organization_name,
                data.organization_identifier,
                data.serial_number,
            )
            if v
        )
        self.write(
            {
                "limits_text": enrolment._ksef_limits_text(limits),
                "subject_text": subject,
                "session_sealed": secret_vault.encrypt(session.access_token, self._ksef_aad()),
                "step": "confirm",
                "signed_file": False,
                "auth_request": False,
            }
        )
        return self._reopen()

    @wipes_inputs
    def action_request(self):
        """Request the certificate with the session of the limits step."""
        self.ensure_one()
        context_company = self._ksef_check_input()
        if not self.session_sealed:
            raise UserError(self.env._("Check the limits first (it signs you in to KSeF)."))
        try:
            access_token = secret_vault.decrypt(self.session_sealed, self._ksef_aad())
        except (secret_vault.VaultDecryptError, secret_vault.VaultKeyInvalid):
            raise UserError(
                self.env._("The KSeF session of this request cannot be read; start again.")
            ) from None
        self = self._ksef_env_for(context_company)  # noqa: PLW0642
        session = self.env["ksef.session.service"]._ksef_resumed_session(
            self.environment, access_token
        )
        with session:
            certificate = self._ksef_enrol(session)
            try:
                session.client.revoke_current_session(session.access_token)
            except KsefError:
                _logger.info("KSeF: closing the enrolment session failed (it expires by itself)")
        return {
            "type": "ir.actions.act_window",
            "res_model": "ksef.certificate",
            "res_id": certificate.id,
            "view_mode": "form",
            "target": "current",
        }

    def _ksef_enrol(self, session):
        try:
            return self.env["ksef.certificate.enrolment"]._ksef_enrol(
                session,
                {
                    "company_id": self.company_id.id,
                    "scope": self.scope,
                    "operator_id": self.user_id.id if self.scope == "user" else False,
                    "environment": self.environment,
                },
                self.certificate_type,
                self.description,
                self.key_type,
            )
        except (KsefError, KsefRetryLater) as e:
            raise UserError(self.env["ksef.messages"]._ksef_message(e)) from None

    # ------------------------------------------------------------------
    # CHECKS AND LOGIN
    # ------------------------------------------------------------------

    def _ksef_aad(self):
        return f"{SESSION_AAD}:{self.id}"

    def _ksef_check_input(self):
        self.env["ksef.access"]._ksef_check_admin()
        context_company = self._ksef_check_scope(description_max=86)
        if not NAME_RE.fullmatch((self.description or "").strip()):
            raise UserError(
                self.env._(
                    "A KSeF certificate name has 5 to 86 letters (Polish ones too), digits, "
                    "spaces, underscores or hyphens; other characters are refused by KSeF."
                )
            )
        self.env["ksef.certificate"].check_access("create")
        return context_company

    def _ksef_login(self):
        context = self._ksef_context(self._ksef_check_input())
        try:
            if self.auth_method == "sandbox":
                return self._ksef_signer_session(self._ksef_practice_login(context))
            if self.auth_method == "certificate":
                return self._ksef_signer_session(self._ksef_certificate_login(context))
            return self._ksef_signer_session(self._ksef_upload_login(context), replayable=False)
        except (KsefError, KsefRetryLater) as e:
            self._ksef_wipe_inputs(refused=True)
            raise UserError(self.env["ksef.messages"]._ksef_message(e)) from None

    def _ksef_practice_login(self, context):
        """Sandbox only: sign in with a practice seal of the company that Odoo makes, as the
        Sandbox's practice tokens do, so that the request can be tried without a signature."""
        if self.environment != "sandbox":
            raise UserError(
                self.env._(
                    "A practice seal works only in the Sandbox environment. In Test, Demo or "
                    "Production, sign auth.xml or use a certificate stored in Odoo."
                )
            )
        from ..ksef import testing_certs  # test machinery: loaded only for the Sandbox

        key, cert = testing_certs.generate_test_certificate(
            self.company_id.ksef_nip, kind="seal", organization_name=self.company_id.name
        )
        return lambda client: client.authenticate_with_certificate(
            context, key, cert, poll_interval=0.5
        )
