"""Sharing tokens: assign them to users and companies within what the token's scope allows."""

from odoo import api, models
from odoo.exceptions import UserError


class KsefTokenSharing(models.AbstractModel):
    _name = "ksef.token.sharing"
    _description = "KSeF Token Sharing"

    @api.model
    def _ksef_share(self, tokens, users, companies, unshare=False):
        """Assign (or unassign) ``tokens`` to users and companies; raises UserError naming
        what the scope does not allow."""
        self.env["ksef.access"]._ksef_check_admin(tokens.company_id | companies)
        for token in tokens.sudo():
            if not unshare:
                self._ksef_check_share(token, users, companies)
            command = 3 if unshare else 4
            token.write(
                {
                    "user_ids": [(command, u.id) for u in users],
                    "assigned_company_ids": [(command, c.id) for c in companies],
                }
            )
            names = ", ".join(users.mapped("name") + companies.mapped("name"))
            token._ksef_post(
                self.env._(
                    "Unassigned from %(subjects)s by %(user)s.",
                    subjects=names,
                    user=self.env.user.name,
                )
                if unshare
                else self.env._(
                    "Assigned to %(subjects)s by %(user)s.", subjects=names, user=self.env.user.name
                )
            )

    @api.model
    def _ksef_check_share(self, token, users, companies):
        """Raise a UserError unless ``token`` may be shared with ``users`` and ``companies``."""
        token.ensure_one()
        if token.scope == "user" and (companies or users - token.operator_id):
            raise UserError(
                self.env._(
                    "%(token)s is an operator token of %(operator)s: it cannot be shared.",
                    token=token.display_name,
                    operator=token.operator_id.name,
                )
            )
        if token.state not in ("pending", "active"):
            raise UserError(
                self.env._("%(token)s no longer works in KSeF.", token=token.display_name)
            )
        if token.scope == "branch":
            outside = companies.filtered(
                lambda c: c != token.company_id and token.company_id not in c.parent_ids
            )
        else:
            outside = companies.filtered(lambda c: c.ksef_nip != token.company_id.ksef_nip)
        if outside:
            raise UserError(
                self.env._(
                    "%(token)s belongs to %(context)s and cannot be shared with %(companies)s.",
                    token=token.display_name,
                    context=token.context_value,
                    companies=", ".join(outside.mapped("name")),
                )
            )
        access = self.env["ksef.access"]
        if token.token_type == "A":
            # an administrator token lets its holder manage every token of the context
            not_admins = users.filtered(lambda u: not access._ksef_is_admin(u))
            if not_admins:
                raise UserError(
                    self.env._(
                        "%(token)s is an administrator token (type A); %(users)s are not KSeF "
                        "administrators, so it cannot be shared with them. Share a W or P token "
                        "instead, or make them KSeF administrators first.",
                        token=token.display_name,
                        users=", ".join(not_admins.mapped("name")),
                    )
                )
        strangers = users.filtered(lambda u: token.company_id not in u.company_ids)
        if strangers:
            raise UserError(
                self.env._(
                    "%(users)s have no access to %(company)s, the company of %(token)s.",
                    users=", ".join(strangers.mapped("name")),
                    company=token.company_id.name,
                    token=token.display_name,
                )
            )
