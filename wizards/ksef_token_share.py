from odoo import api, fields, models


class KsefTokenShare(models.TransientModel):
    """Assign the selected tokens to users, branches or companies of the same NIP (or take
    them away); refused where a token's scope does not allow it."""

    _name = "ksef.token.share"
    _description = "Share KSeF Tokens"

    token_ids = fields.Many2many("ksef.token", string="Tokens", readonly=True)
    mode = fields.Selection(
        [("share", "Share"), ("unshare", "Unshare")], required=True, default="share"
    )
    user_ids = fields.Many2many("res.users", string="Users", domain="[('share', '=', False)]")
    company_ids = fields.Many2many("res.company", string="Companies and Branches")

    @api.model
    def action_open(self, tokens):
        wizard = self.create({"token_ids": [(6, 0, tokens.ids)]})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Share KSeF Tokens"),
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
        }

    def action_apply(self):
        self.ensure_one()
        self.token_ids._ksef_share(self.user_ids, self.company_ids, unshare=self.mode == "unshare")
        return {"type": "ir.actions.act_window_close"}
