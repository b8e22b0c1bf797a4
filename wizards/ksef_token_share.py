from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.ksef_ui import dialog_action


class KsefTokenShare(models.TransientModel):
    """Assign the selected tokens to users, branches or companies of the same NIP (or take
    them away); refused where a token's scope does not allow it, with a result per token."""

    _name = "ksef.token.share"
    _description = "Share KSeF Tokens"

    token_ids = fields.Many2many("ksef.token", string="Tokens", readonly=True)
    mode = fields.Selection(
        [("share", "Share"), ("unshare", "Unshare")], required=True, default="share"
    )
    user_ids = fields.Many2many(
        "res.users",
        string="Users",
        # the picker offers only people of the user's own companies, never another company's
        domain=lambda self: [
            ("share", "=", False),
            ("company_ids", "in", self.env.user.company_ids.ids),
        ],
    )
    company_ids = fields.Many2many("res.company", string="Companies and Branches")
    result = fields.Text(readonly=True)
    done = fields.Boolean(readonly=True)

    @api.model
    def action_open(self, tokens):
        wizard = self.create({"token_ids": [(6, 0, tokens.ids)]})
        return wizard._reopen(self.env._("Share KSeF Tokens"))

    def _reopen(self, name):
        return dialog_action(self, name)

    def action_apply(self):
        self.ensure_one()
        visible, hidden = self.env["ksef.token.revoke"]._ksef_split_visible(self)
        unshare = self.mode == "unshare"
        lines = self.env["ksef.token.revoke"]._ksef_hidden_lines(
            hidden, unshare and "unshare" or "share"
        )
        for token in visible:
            try:
                with self.env.cr.savepoint():
                    self.env["ksef.token.sharing"]._ksef_share(
                        token, self.user_ids, self.company_ids, unshare=unshare
                    )
            except UserError as e:
                lines.append(
                    self.env._(
                        "%(token)s: NOT changed: %(error)s",
                        token=token.display_name,
                        error=e.args[0],
                    )
                )
            else:
                lines.append(
                    self.env._("%(token)s: unassigned", token=token.display_name)
                    if unshare
                    else self.env._("%(token)s: shared", token=token.display_name)
                )
        self.write({"result": "\n".join(lines), "done": True})
        return self._reopen(self.env._("Sharing Result"))
