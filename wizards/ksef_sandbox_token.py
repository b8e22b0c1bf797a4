"""Practising import in the Sandbox: a token string made the way the Ministry's web app makes
one (Aplikacja Podatnika shows it once), so a new user can try the import end to end.

Only for the Sandbox environment (the simulator built into Odoo, see
``models/ksef_connection.py``): Odoo asks it through its own KSeF API, as the web app would:
authenticate in the token's context with a (test) certificate of the company's owner,
``POST /tokens``, wait until the token is Active. The string is shown once in a dialog and can
be put into the import wizard's paste field with one click.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef.errors import KsefError
from ..models import secret_vault
from ..models.ksef_exceptions import KsefRetryLater

_logger = logging.getLogger(__name__)

PRACTICE_AAD = "ksef.sandbox.token"
PRACTICE_WAIT = 30.0


class KsefSandboxToken(models.TransientModel):
    """The dialog that shows a practice token once."""

    _name = "ksef.sandbox.token"
    _description = "KSeF Practice Token (Sandbox)"

    import_wizard_id = fields.Many2one("ksef.token.import", required=True, ondelete="cascade")
    token_sealed = fields.Char(copy=False)
    token_display = fields.Char(
        string="Practice Token",
        compute="_compute_token_display",
        help="Shown once: copy it, or put it into the import wizard with the button below.",
    )

    @api.model
    def _ksef_open_for(self, wizard):
        """Have the Sandbox issue a practice token for the import ``wizard``'s company, branch
        and permissions; open the dialog that shows it once."""
        wizard.ensure_one()
        self.env["ksef.access"]._ksef_check_admin()
        if wizard.environment != "sandbox":
            raise UserError(
                self.env._(
                    "Practice tokens exist only in the Sandbox environment. For the Test, Demo "
                    "or Production environment, generate the token in the KSeF taxpayer "
                    "application (Aplikacja Podatnika) or with KSeF > Generate Token."
                )
            )
        context_company = wizard._ksef_check_scope()
        context = context_company._ksef_context("branch" if wizard._uses_branch() else "company")
        permissions = wizard.permission_ids.mapped("name") or ["InvoiceRead", "InvoiceWrite"]
        text = self._ksef_sandbox_issue(
            context,
            context_company.ksef_nip or wizard.company_id.ksef_nip,
            permissions,
            wizard.description.strip(),
        )
        dialog = self.create(
            {
                "import_wizard_id": wizard.id,
                "token_sealed": secret_vault.encrypt(text, PRACTICE_AAD),
            }
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Practice token (Sandbox)"),
            "res_model": self._name,
            "res_id": dialog.id,
            "view_mode": "form",
            "target": "new",
        }

    @api.model
    def _ksef_sandbox_issue(self, context, nip, permissions, description):
        """The token string the Sandbox issued (Active), through the Sandbox's KSeF API, with
        a session of a test certificate from the session factory."""
        from ..ksef import testing_certs  # test machinery: loaded only for the Sandbox

        key, certificate = testing_certs.generate_test_certificate(nip, kind="person")
        try:
            with self.env["ksef.session.service"]._ksef_transient_session(
                "sandbox",
                lambda client: client.authenticate_with_certificate(
                    context, key, certificate, poll_interval=0.5, poll_timeout=PRACTICE_WAIT
                ),
            ) as session:
                generated = session.client.generate_token(
                    session.access_token, permissions, description
                )
                session.client.wait_for_token_status(
                    session.access_token,
                    generated.reference_number,
                    ("Active",),
                    poll_interval=0.5,
                    timeout=PRACTICE_WAIT,
                )
        except (KsefError, KsefRetryLater) as e:
            _logger.warning("The Sandbox did not issue a practice token: %s", e)
            raise UserError(
                self.env._(
                    "The Sandbox could not issue a practice token: %(error)s Try again in a "
                    "minute.",
                    error=self.env["ksef.messages"]._ksef_message(e),
                )
            ) from None
        return generated.token

    def _compute_token_display(self):
        for dialog in self:
            text = False
            if dialog.token_sealed:
                try:
                    text = secret_vault.decrypt(dialog.token_sealed, PRACTICE_AAD)
                except secret_vault.VaultDecryptError:
                    text = False
            dialog.token_display = text

    def action_use_in_import(self):
        """Put the practice token into the import wizard's paste field, forget it here and go
        back to the import wizard."""
        self.ensure_one()
        self.env["ksef.access"]._ksef_check_admin()
        wizard = self.import_wizard_id
        if not self.token_sealed:
            raise UserError(self.env._("This practice token was already used. Get a new one."))
        wizard.token_text = secret_vault.decrypt(self.token_sealed, PRACTICE_AAD)
        self.token_sealed = False
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Import a KSeF Token"),
            "res_model": "ksef.token.import",
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
        }
