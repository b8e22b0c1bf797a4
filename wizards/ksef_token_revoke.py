from odoo import api, fields, models

from ..models.ksef_ui import dialog_action


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
        return dialog_action(self, name)

    def action_revoke(self):
        self.ensure_one()
        visible, hidden = self._ksef_split_visible(self)
        lines = self._ksef_hidden_lines(hidden, "revoke")
        results = self.env["ksef.token.revocation"]._ksef_revoke(visible) if visible else {}
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

    @api.model
    def _ksef_split_visible(self, wizard):
        """(tokens the user may act on, ids of the wizard's tokens the user cannot see).

        A many2many read drops the tokens a record rule hides (another company's, or outside
        the user's KSeF rights): they are reported as not done instead of silently skipped."""
        stored = wizard.sudo().token_ids
        visible = self.env["ksef.token"].search([("id", "in", stored.ids)])
        return visible, [i for i in stored.ids if i not in visible.ids]

    @api.model
    def _ksef_hidden_lines(self, hidden_ids, operation):
        labels = {
            "revoke": self.env._("NOT revoked"),
            "share": self.env._("NOT shared"),
            "unshare": self.env._("NOT unassigned"),
        }
        return [
            self.env._(
                "Token #%(id)s: %(not_done)s: you have no access to it (it belongs to a company "
                "you are not allowed in, or to someone else). Ask a KSeF administrator of its "
                "company.",
                id=token_id,
                not_done=labels[operation],
            )
            for token_id in hidden_ids
        ]
