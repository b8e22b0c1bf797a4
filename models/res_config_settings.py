from odoo import api, fields, models

from . import secret_vault
from .ksef_access import DEFAULT_TOKEN_CUTOFF, TOKEN_CUTOFF_PARAM
from .ksef_ui import ksef_identity_checked


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    ksef_environment = fields.Selection(related="company_id.ksef_environment", readonly=False)
    ksef_internal_id = fields.Char(related="company_id.ksef_internal_id", readonly=False)
    ksef_nip = fields.Char(related="company_id.ksef_nip")
    ksef_is_branch = fields.Boolean(compute="_compute_ksef_is_branch")
    ksef_key_configured = fields.Boolean(
        default=lambda self: secret_vault.is_configured(), readonly=True
    )
    ksef_token_count = fields.Integer(compute="_compute_ksef_token_count")
    ksef_responsible_id = fields.Many2one(related="company_id.ksef_responsible_id", readonly=False)
    ksef_warning_days = fields.Integer(related="company_id.ksef_warning_days", readonly=False)
    ksef_auth_order = fields.Selection(related="company_id.ksef_auth_order", readonly=False)
    ksef_token_cutoff = fields.Date(
        string="KSeF tokens usable until",
        help="No KSeF token is used to authenticate after this day (2026-12-31 under the "
        "regulation in force; the Ministry proposed 2027-11-30 for tokens issued before 2027).",
    )

    @api.model
    def get_values(self):
        res = super().get_values()
        res["ksef_token_cutoff"] = self.env["ksef.access"]._ksef_token_cutoff()
        return res

    def set_values(self):
        super().set_values()
        if not self.env.user.has_group("base.group_system"):
            return
        value = self.ksef_token_cutoff or DEFAULT_TOKEN_CUTOFF
        self.env["ir.config_parameter"].sudo().set_param(
            TOKEN_CUTOFF_PARAM, fields.Date.to_string(value)
        )

    @api.depends("company_id")
    def _compute_ksef_is_branch(self):
        for settings in self:
            settings.ksef_is_branch = bool(settings.company_id.parent_id)

    @api.depends("company_id")
    def _compute_ksef_token_count(self):
        for settings in self:
            settings.ksef_token_count = self.env["ksef.token"].search_count(
                [("company_id", "child_of", settings.company_id.id)]
            )

    def action_ksef_open_tokens(self):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "l10n_pl_ksef_token.ksef_token_action"
        )
        action["domain"] = [("company_id", "child_of", self.company_id.id)]
        return action

    @ksef_identity_checked
    def action_ksef_import_token(self):
        return self.env["ksef.token.import"].action_open(company=self.company_id)

    @ksef_identity_checked
    def action_ksef_generate_token(self):
        return self.env["ksef.token.generate"].action_open(company=self.company_id)
