from odoo import api, fields, models


class KsefTokenRevoke(models.TransientModel):
    """Confirm, then revoke the selected tokens in KSeF; failures are reported per token."""

    _name = "ksef.token.revoke"
    _description = "Revoke KSeF Tokens"

    token_ids = fields.Many2many("ksef.token", string="Tokens", readonly=True)
    result = fields.Text(readonly=True)
    done = fields.Boolean(readonly=True)

    @api.model
    def action_open(self, tokens):
        wizard = self.create({"token_ids": [(6, 0, tokens.ids)]})
        return wizard._reopen(self.env._("Revoke KSeF Tokens"))

    def _reopen(self, name):
        return {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    def action_revoke(self):
        self.ensure_one()
        results = self.token_ids._ksef_revoke()
        lines = []
        for token, error in results.items():
            if error:
                lines.append(
                    self.env._(
                        "%(token)s: NOT revoked: %(error)s", token=token.display_name, error=error
                    )
                )
            else:
                lines.append(self.env._("%(token)s: revoked", token=token.display_name))
        self.write({"result": "\n".join(lines), "done": True})
        return self._reopen(self.env._("Revocation Result"))
