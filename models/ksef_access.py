"""The one access service: who may do what with KSeF credentials, in which company.

Every wizard, button, job and the session factory ask here; views only hide what this
refuses anyway. Two questions are answered:

* may this user administer KSeF credentials of these companies / this token
  (:meth:`KsefAccess._ksef_check_admin`, :meth:`KsefAccess._ksef_check_token_admin`)?
* may this user use this token for this operation on behalf of this company
  (:meth:`KsefAccess._ksef_token_problems`)?

and one list is kept: who a company's KSeF administrators are
(:meth:`KsefAccess._ksef_company_admins`).
"""

from datetime import date

from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..ksef import permissions as ksef_perms

ADMIN_GROUP = "l10n_pl_ksef_token.group_ksef_admin"
SEND_GROUP = "l10n_pl_ksef_token.group_ksef_send"
FETCH_GROUP = "l10n_pl_ksef_token.group_ksef_fetch"
#: what an operation needs in Odoo: the group covering its A/W/P scope
OPERATION_GROUPS = {
    "fetch": FETCH_GROUP,
    "send": SEND_GROUP,
    "administer": ADMIN_GROUP,
}
#: the scopes a session can be asked for
SCOPES = tuple(OPERATION_GROUPS)
#: the setting "KSeF tokens usable until" (``ir.config_parameter``)
TOKEN_CUTOFF_PARAM = "l10n_pl_ksef_token.token_cutoff"
#: its default: under the regulation in force (Dz.U. 2025 poz. 1815, § 13) KSeF tokens may
#: be used to authenticate until 31 December 2026
DEFAULT_TOKEN_CUTOFF = date(2026, 12, 31)
#: what the Ministry proposed (not law yet): tokens issued before 2027 usable until then
PROPOSED_TOKEN_CUTOFF = date(2027, 11, 30)


class KsefAccess(models.AbstractModel):
    _name = "ksef.access"
    _description = "KSeF Access Service"

    # ------------------------------------------------------------------
    # ADMINISTRATORS
    # ------------------------------------------------------------------

    @api.model
    def _ksef_is_admin(self, user=None):
        return (user or self.env.user).has_group(ADMIN_GROUP)

    @api.model
    def _ksef_check_admin(self, companies=None, user=None):
        """Only KSeF administrators of ``companies`` administer KSeF credentials (the
        superuser, for crons, too). Raises AccessError naming what is missing."""
        user = user or self.env.user
        if user is self.env.user and self.env.su and user._is_superuser():
            return True
        if not user.has_group(ADMIN_GROUP):
            raise AccessError(self.env._("Only KSeF administrators may administer KSeF tokens."))
        foreign = (companies or self.env["res.company"]) - user.company_ids
        if foreign:
            raise AccessError(
                self.env._(
                    "You have no access to the company %(company)s.",
                    company=", ".join(foreign.sudo().mapped("name")),
                )
            )
        return True

    @api.model
    def _ksef_check_token_admin(self, token, user=None):
        """``user`` may check ``token`` itself in KSeF (its connectivity, its own status):
        a KSeF administrator of the token's company, whatever the token's permissions."""
        user = (user or self.env.user).sudo(False)
        company = token.sudo().company_id
        if not user.has_group(ADMIN_GROUP) or company not in user.company_ids:
            raise AccessError(
                self.env._(
                    "Only KSeF administrators of %(company)s may check its tokens.",
                    company=company.name,
                )
            )
        return True

    @api.model
    def _ksef_check_stored_certificate_use(self, user=None):
        """Signing with a certificate stored in Odoo (Odoo's certificate module, whose keys
        only system administrators manage) is for system administrators."""
        if not (user or self.env.user).has_group("base.group_system"):
            raise AccessError(
                self.env._("Only system administrators may use certificates stored in Odoo.")
            )
        return True

    @api.model
    def _ksef_company_admins(self, company):
        """The KSeF administrators of ``company``: internal, active users of the group who
        may work in it, never OdooBot; lowest id first."""
        root = self.env.ref("base.user_root")
        return (
            self.env.ref(ADMIN_GROUP)
            .sudo()
            .users.filtered(
                lambda u: company in u.company_ids and not u.share and u.active and u != root
            )
            .sorted("id")
        )

    @api.model
    def _ksef_operator_groups(self, permission_names):
        """The KSeF groups of which an operator must hold one to use a token with these KSeF
        permissions (an A token, or any other permission: the administrators)."""
        names = set(permission_names)
        invoice_operations = ("send", "fetch")
        groups = [
            OPERATION_GROUPS[operation]
            for operation in invoice_operations
            if ksef_perms.permissions_allow(operation, names)
        ]
        invoice_permissions = {
            p
            for operation in invoice_operations
            for p in ksef_perms.OPERATION_PERMISSIONS[operation]
        }
        if names - invoice_permissions or not groups:
            groups = [ADMIN_GROUP]
        return groups

    # ------------------------------------------------------------------
    # USING A TOKEN
    # ------------------------------------------------------------------

    @api.model
    def _ksef_user_problems(self, user, operation, companies):
        """Why ``user`` (in sudo) may not do ``operation`` in ``companies``: the Odoo group
        of its A/W/P scope, and access to each company."""
        problems = []
        if not user.has_group(OPERATION_GROUPS[operation]):
            problems.append(
                self.env._(
                    "%(user)s is not in the group %(group)s.",
                    user=user.name,
                    group=self.env.ref(OPERATION_GROUPS[operation]).full_name,
                )
            )
        for needed in companies:
            if needed not in user.company_ids:
                problems.append(
                    self.env._(
                        "%(user)s has no access to the company %(company)s.",
                        user=user.name,
                        company=needed.name,
                    )
                )
        return problems

    @api.model
    def _ksef_token_problems(self, token, operation, user=None, company=None):
        """Translated reasons why ``user`` may not use ``token`` for ``operation``
        (``'fetch'``, ``'send'`` or ``'administer'``) on behalf of ``company``; empty when
        allowed. Every feature that uses a token goes through this check."""
        token.ensure_one()
        if operation not in OPERATION_GROUPS:
            raise ValueError(f"unknown KSeF operation {operation!r}")
        # read in sudo: what the user may do is the question here, not what they may read
        user = (user or self.env.user).sudo()
        token = token.sudo()
        problems = self._ksef_user_problems(
            user, operation, token.company_id | (company or token.company_id)
        )
        acting_companies = company or user.company_ids
        if user not in token.user_ids and not token.assigned_company_ids & acting_companies:
            problems.append(
                self.env._(
                    "The token is assigned neither to %(user)s nor to %(companies)s.",
                    user=user.name,
                    companies=", ".join(acting_companies.mapped("name")),
                )
            )
        missing = ksef_perms.missing_for(operation, token.permission_ids.mapped("name"))
        if missing:
            problems.append(
                self.env._(
                    "The token lacks the KSeF permission %(permissions)s.",
                    permissions=" / ".join(missing),
                )
            )
        problems.extend(self._ksef_token_state_problems(token))
        return problems

    @api.model
    def _ksef_token_cutoff(self):
        """The last day KSeF tokens may be used to authenticate: the setting "KSeF tokens
        usable until" (data, not code: an administrator changes it when the law changes)."""
        value = self.env["ir.config_parameter"].sudo().get_param(TOKEN_CUTOFF_PARAM)
        try:
            return fields.Date.to_date(value) or DEFAULT_TOKEN_CUTOFF
        except ValueError:
            return DEFAULT_TOKEN_CUTOFF

    @api.model
    def _ksef_token_state_problems(self, token):
        """Why ``token`` cannot authenticate now whoever asks (state, secret, expiry, the
        token cut-off)."""
        problems = []
        if token.state != "active" or not token.active:
            problems.append(
                self.env._(
                    "The token is not active in KSeF (status: %(state)s).",
                    state=dict(token._fields["state"]._description_selection(self.env)).get(
                        token.state
                    ),
                )
            )
        elif not token.has_secret:
            problems.append(self.env._("Odoo holds no secret for this token."))
        today = fields.Date.today()
        if token.expiry_date and token.expiry_date < today:
            problems.append(self.env._("The token expired on %(date)s.", date=token.expiry_date))
        cutoff = self._ksef_token_cutoff()
        if cutoff < today:
            problems.append(
                self.env._(
                    "KSeF tokens may be used only until %(date)s (the setting KSeF tokens usable "
                    "until); use a KSeF certificate.",
                    date=fields.Date.to_string(cutoff),
                )
            )
        return problems

    @api.model
    def _ksef_certificate_problems(self, certificate, operation, user=None, company=None):
        """Translated reasons why ``user`` may not sign in with the KSeF ``certificate`` for
        ``operation`` on behalf of ``company``, before asking KSeF (what its identity may do
        in the context is KSeF's answer, checked after signing in); empty when allowed."""
        user = (user or self.env.user).sudo()
        certificate = certificate.sudo()
        problems = self._ksef_user_problems(
            user, operation, certificate.company_id | (company or certificate.company_id)
        )
        if certificate.scope == "user" and certificate.operator_id != user:
            problems.append(
                self.env._(
                    "The certificate is %(operator)s's own: only they may sign in with it.",
                    operator=certificate.operator_id.name,
                )
            )
        if certificate.certificate_type != "Authentication":
            problems.append(self.env._("An Offline certificate cannot sign in to KSeF."))
        if certificate.state != "active" or not certificate.active:
            problems.append(
                self.env._(
                    "The certificate is not active in KSeF (status: %(state)s).",
                    state=dict(certificate._fields["state"]._description_selection(self.env)).get(
                        certificate.state
                    ),
                )
            )
        elif not certificate.has_secret:
            problems.append(self.env._("Odoo holds no private key for this certificate."))
        if certificate.valid_to and certificate.valid_to < fields.Datetime.now():
            problems.append(
                self.env._("The certificate expired on %(date)s.", date=certificate.valid_to)
            )
        return problems

    @api.model
    def _ksef_check_token(self, token, operation, user=None, company=None):
        """Raise an AccessError naming what is missing unless ``user`` may use ``token``."""
        problems = self._ksef_token_problems(token, operation, user=user, company=company)
        if problems:
            raise AccessError(
                self.env._(
                    "The KSeF token %(token)s cannot be used to %(operation)s:\n%(problems)s",
                    token=token.sudo().display_name,
                    operation=self._ksef_operation_label(operation),
                    problems="\n".join(f"- {p}" for p in problems),
                )
            )
        return True

    @api.model
    def _ksef_check_acting_user(self, user, company, operation):
        """A job acting as ``user`` for ``company``: the user must be allowed in the company
        and hold the group of ``operation``."""
        if company not in user.company_ids or not user.has_group(OPERATION_GROUPS[operation]):
            raise AccessError(
                self.env._(
                    "%(user)s may not %(operation)s for %(company)s.",
                    user=user.name,
                    operation=self._ksef_operation_label(operation),
                    company=company.sudo().name,
                )
            )
        return True

    @api.model
    def _ksef_operation_label(self, operation):
        return {
            "fetch": self.env._("fetch invoices"),
            "send": self.env._("send invoices"),
            "administer": self.env._("administer KSeF tokens"),
        }[operation]
