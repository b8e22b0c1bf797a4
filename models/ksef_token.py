import functools
import logging

from lxml import etree

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.http import request
from odoo.tools import SQL

from odoo.addons.base.models.res_users import check_identity

from ..ksef import permissions as ksef_perms
from . import secret_vault
from .res_company import KSEF_ENVIRONMENTS


def ksef_identity_checked(fn):
    """The UI entry points that lead to importing, generating or revoking tokens ask for the
    user's password first (Odoo's ``check_identity``, valid 10 minutes). Python callers (no
    HTTP request: jobs, other modules, tests) call the method directly."""
    checked = check_identity(fn)

    @functools.wraps(fn)
    def wrapped(self, *args, **kwargs):
        if not request:
            return fn(self, *args, **kwargs)
        return checked(self, *args, **kwargs)

    # res.users.identitycheck only re-runs methods marked by check_identity
    setattr(wrapped, "__has_check_identity", True)  # noqa: B010
    return wrapped


def check_description_text(env, values, field_name):
    """Refuse a NUL or other control character in a description before the database does (it
    would give a raw ValueError): what is wrong and what to do."""
    text = values.get(field_name)
    if isinstance(text, str) and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise ValidationError(
            env._(
                "The description contains a control character (such as a NUL or a line break, "
                "often pasted by accident). Type the description again using letters, digits "
                "and punctuation only."
            )
        )


_logger = logging.getLogger(__name__)

TOKEN_STATES = [
    ("unverified", "Not Verified Yet"),
    ("pending", "Pending"),
    ("active", "Active"),
    ("revoking", "Revoking"),
    ("revoked", "Revoked"),
    ("failed", "Failed"),
]
#: KSeF ``AuthenticationTokenStatus`` -> our state
KSEF_STATUS_TO_STATE = {
    "Pending": "pending",
    "Active": "active",
    "Revoking": "revoking",
    "Revoked": "revoked",
    "Failed": "failed",
}
TOKEN_TYPES = [
    ("A", "A – Administrator"),
    ("W", "W – Send invoices"),
    ("P", "P – Fetch invoices"),
    ("custom", "Custom"),
]
SCOPES = [
    ("company", "Company"),
    ("branch", "Branch"),
    ("user", "Operator"),
]
#: what an operation needs in Odoo: the group covering its A/W/P scope
OPERATION_GROUPS = {
    "fetch": "l10n_pl_ksef_token.group_ksef_fetch",
    "send": "l10n_pl_ksef_token.group_ksef_send",
    "administer": "l10n_pl_ksef_token.group_ksef_admin",
}
#: fields KSeF fixes at generation: written only from what KSeF says (see ``write``)
KSEF_FIXED_FIELDS = {"token_type", "permission_ids"}
#: context flag of the code that writes what KSeF said (generation, verification, sync)
KSEF_SOURCED_CONTEXT = "ksef_sourced"
#: states in which the token may still be alive in KSeF (never deleted from Odoo then)
LIVE_STATES = ("pending", "active", "revoking")


class KsefSecretUnreadable(UserError):
    """A stored token secret cannot be decrypted (invalid or missing key): the caller skips
    this token and goes on with the others."""


class KsefToken(models.Model):
    """A KSeF 2.0 authorization token known to Odoo.

    The secret never is an ORM field: it lives encrypted (see :mod:`.secret_vault`) in the
    column ``secret_ciphertext`` that only :meth:`_ksef_store_secret` and
    :meth:`_ksef_get_secret` touch, with raw SQL, in sudo mode. Reads, exports, searches,
    group-bys, tracking and RPC therefore cannot reach it, whoever asks.
    """

    _name = "ksef.token"
    _description = "KSeF Token"
    _inherit = ["mail.thread"]
    _order = "company_id, state, date_created desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Description",
        required=True,
        tracking=True,
        help="Description of the token as registered in KSeF (5 to 256 characters).",
    )
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
        ondelete="restrict",
        help="The company or branch whose KSeF context the token belongs to.",
    )
    scope = fields.Selection(SCOPES, required=True, default="company", readonly=True)
    operator_id = fields.Many2one(
        "res.users",
        readonly=True,
        index=True,
        ondelete="restrict",
        help="For an operator token: the user it was made for.",
    )
    context_type = fields.Selection(
        [("Nip", "NIP"), ("InternalId", "Internal ID")],
        required=True,
        readonly=True,
    )
    context_value = fields.Char(string="KSeF Context", required=True, readonly=True, index=True)
    environment = fields.Selection(KSEF_ENVIRONMENTS, required=True, readonly=True)
    token_type = fields.Selection(
        TOKEN_TYPES,
        string="Type",
        required=True,
        default="custom",
        readonly=True,
        tracking=True,
        help="Fixed in KSeF when the token is generated; Odoo only records it.",
    )
    permission_ids = fields.Many2many(
        "ksef.permission",
        string="KSeF Permissions",
        readonly=True,
        tracking=True,
        help="The permissions this token carries in KSeF. They are fixed when the token is "
        "generated and cannot change afterwards.",
    )
    reference_number = fields.Char(required=True, readonly=True, copy=False, index=True)
    state = fields.Selection(
        TOKEN_STATES,
        string="KSeF Status",
        required=True,
        default="pending",
        tracking=True,
        readonly=True,
    )
    status_details = fields.Text(readonly=True)
    date_created = fields.Datetime(string="Created in KSeF", readonly=True)
    last_use_date = fields.Datetime(string="Last Use", readonly=True)
    expiry_date = fields.Date(
        string="Expires On",
        tracking=True,
        help="When the token stops working. Under the 2025 regulation KSeF tokens may be used "
        "until 31 December 2026 at the latest.",
    )
    origin = fields.Selection(
        [
            ("generated", "Generated in Odoo"),
            ("imported", "Imported"),
            ("found", "Found in KSeF"),
        ],
        required=True,
        readonly=True,
        default="imported",
    )
    author_identifier = fields.Char(
        string="Author",
        readonly=True,
        help="Who created the token in KSeF (NIP, PESEL or certificate fingerprint).",
    )
    user_ids = fields.Many2many(
        "res.users",
        "ksef_token_res_users_rel",
        "token_id",
        "user_id",
        string="Assigned Users",
        help="Users who may use this token (within their KSeF group).",
    )
    assigned_company_ids = fields.Many2many(
        "res.company",
        "ksef_token_res_company_rel",
        "token_id",
        "company_id",
        string="Assigned Companies and Branches",
        help="Users of these companies and branches may use this token (within their KSeF "
        "group).",
    )
    has_secret = fields.Boolean(
        string="Secret Stored",
        readonly=True,
        copy=False,
        help="Whether Odoo holds this token's secret (encrypted) and can authenticate with it.",
    )
    secret_hint = fields.Char(
        string="Secret Ends With",
        readonly=True,
        copy=False,
        help="The last characters of the secret, to recognise the token.",
    )
    permission_names = fields.Char(compute="_compute_permission_names")

    _sql_constraints = [
        (
            "reference_environment_unique",
            "UNIQUE(reference_number, environment)",
            "This KSeF token is already registered in Odoo.",
        ),
    ]

    # ------------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------------

    def init(self):
        res = super().init()
        # The secret column is deliberately not an ORM field (see class docstring).
        self.env.cr.execute(
            "ALTER TABLE ksef_token ADD COLUMN IF NOT EXISTS secret_ciphertext text"
        )
        return res

    @api.depends("permission_ids")
    def _compute_permission_names(self):
        for token in self:
            token.permission_names = ", ".join(token.permission_ids.mapped("name"))

    @api.depends("name", "reference_number")
    def _compute_display_name(self):
        for token in self:
            token.display_name = (
                f"{token.name} ({token.reference_number})" if token.reference_number else token.name
            )

    @api.model
    def fields_get(self, allfields=None, attributes=None):
        """Archiving is for KSeF administrators: for others ``active`` is read-only, so the web
        client offers no Archive / Unarchive that would end in an access error."""
        res = super().fields_get(allfields, attributes)
        if (
            "active" in res
            and (attributes is None or "readonly" in attributes)
            and not self.env.user.has_group(OPERATION_GROUPS["administer"])
        ):
            res["active"]["readonly"] = True
        return res

    @api.model
    def get_views(self, views, options=None):
        """Deleting is for KSeF administrators: the others get list and form views without
        Delete in the Actions menu (it would end in an access error)."""
        res = super().get_views(views, options)
        if not self.env.user.has_group(OPERATION_GROUPS["administer"]):
            for view_type in ("list", "form"):
                view = res["views"].get(view_type)
                if view and view.get("arch"):
                    arch = etree.fromstring(view["arch"])
                    arch.set("delete", "0")
                    view["arch"] = etree.tostring(arch, encoding="unicode")
        return res

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_description_text(self.env, vals, "name")
        return super().create(vals_list)

    def write(self, vals):
        check_description_text(self.env, vals, "name")
        if KSEF_FIXED_FIELDS & set(vals) and not (
            self.env.su or self.env.context.get(KSEF_SOURCED_CONTEXT)
        ):
            # the access checks trust these fields: only what KSeF says may set them
            raise UserError(
                self.env._(
                    "The type and the permissions of a KSeF token are fixed in KSeF when it is "
                    "generated and cannot be changed in Odoo. Generate a new token with the "
                    "permissions you need, then revoke this one."
                )
            )
        return super().write(vals)

    @api.constrains("name")
    def _check_name(self):
        for token in self:
            if not 5 <= len((token.name or "").strip()) <= 256:
                raise ValidationError(
                    self.env._("A KSeF token description must have 5 to 256 characters.")
                )

    @api.constrains("assigned_company_ids", "company_id")
    def _check_assigned_companies(self):
        for token in self:
            foreign = token.assigned_company_ids.filtered(
                lambda c, t=token: c.ksef_nip != t.company_id.ksef_nip
            )
            if foreign:
                raise ValidationError(
                    self.env._(
                        "The token %(token)s belongs to NIP %(nip)s and cannot be shared with "
                        "%(companies)s, which have another NIP.",
                        token=token.display_name,
                        nip=token.company_id.ksef_nip,
                        companies=", ".join(foreign.mapped("display_name")),
                    )
                )

    def copy(self, default=None):  # pylint: disable=method-required-super
        raise UserError(
            self.env._(
                "A KSeF token cannot be duplicated: each token exists once in KSeF. Generate or "
                "import a new one instead."
            )
        )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_live(self):
        live = self.filtered(lambda t: t.state in LIVE_STATES and t.origin != "found")
        if live:
            raise UserError(
                self.env._(
                    "These tokens may still work in KSeF: %(tokens)s. Revoke them first, or "
                    "archive them, so that no working token is forgotten by Odoo.",
                    tokens=", ".join(live.mapped("display_name")),
                )
            )

    # ------------------------------------------------------------------
    # SECRET (service code only)
    # ------------------------------------------------------------------

    def _ksef_aad(self):
        return f"ksef.token:{self.environment}:{self.reference_number}"

    def _ksef_require_sudo(self):
        if not self.env.su:
            raise AccessError(
                self.env._("KSeF token secrets are only handled by the KSeF service code.")
            )

    def _ksef_store_secret(self, token_string):
        """Encrypt and store the full token string. Only the addon's service code calls this,
        in sudo mode, after the caller's rights were checked."""
        self.ensure_one()
        self._ksef_require_sudo()
        self._ksef_check_environment_allowed()
        try:
            stored = secret_vault.encrypt(token_string, self._ksef_aad())
        except secret_vault.VaultKeyMissing as e:
            raise UserError(self._ksef_key_missing_message()) from e
        except secret_vault.VaultKeyInvalid as e:
            raise UserError(self._ksef_key_invalid_message(str(e))) from e
        self.env.cr.execute(
            SQL("UPDATE ksef_token SET secret_ciphertext = %s WHERE id = %s", stored, self.id)
        )
        self.write({"has_secret": True, "secret_hint": "…" + token_string[-4:]})
        _logger.info("KSeF token %s: secret stored (uid %s)", self.reference_number, self.env.uid)

    def _ksef_get_secret(self):
        """The decrypted token string, for the KSeF call that needs it. Sudo only."""
        self.ensure_one()
        self._ksef_require_sudo()
        self._ksef_check_environment_allowed()
        self.env.cr.execute(SQL("SELECT secret_ciphertext FROM ksef_token WHERE id = %s", self.id))
        row = self.env.cr.fetchone()
        if not row or not row[0]:
            raise UserError(
                self.env._(
                    "Odoo holds no secret for the KSeF token %(token)s.", token=self.display_name
                )
            )
        try:
            return secret_vault.decrypt(row[0], self._ksef_aad())
        except secret_vault.VaultKeyInvalid as e:
            raise KsefSecretUnreadable(self._ksef_key_invalid_message(str(e))) from e
        except secret_vault.VaultDecryptError as e:
            raise KsefSecretUnreadable(
                self.env._(
                    "The secret of the KSeF token %(token)s cannot be decrypted: it was "
                    "encrypted with the key %(key_id)s, which is not configured on this server. "
                    "Add it to ksef_token_old_keys, or import the token again.",
                    token=self.display_name,
                    key_id=e.key_id or "?",
                )
            ) from e

    def _ksef_wipe_secret(self):
        """Forget the secrets of these tokens (after revocation, or on request)."""
        self._ksef_require_sudo()
        if not self:
            return
        self.env.cr.execute(
            SQL("UPDATE ksef_token SET secret_ciphertext = NULL WHERE id IN %s", tuple(self.ids))
        )
        self.write({"has_secret": False})

    def _ksef_key_invalid_message(self, problem=None):
        return self.env._(
            "The KSeF token encryption key configured on this Odoo server is invalid "
            "(%(problem)s): ksef_token_key (and each of ksef_token_old_keys) must be 32 "
            "random bytes in URL-safe base64, 44 characters, such as\n  %(key)s\n"
            "If tokens were stored with the key, restore its original value; otherwise "
            "put a new key in the configuration and restart Odoo.",
            problem=problem or self.env._("not 32 bytes of URL-safe base64"),
            key=secret_vault.generate_key(),
        )

    @api.model
    def _ksef_log_invalid_key(self, job):
        """Log, once per run of ``job``, that the configured key is invalid; True if it is."""
        problem = secret_vault.key_problem()
        if not problem or problem[0] != "invalid":
            return False
        _logger.error(
            "%s: the KSeF token encryption key is invalid (%s); what cannot be decrypted is "
            "skipped, the rest goes on. Configure a valid ksef_token_key (32 bytes of URL-safe "
            "base64, 44 characters) and restart Odoo.",
            job,
            problem[1],
        )
        return True

    def _ksef_key_problem_message(self):
        """The message for a missing or an invalid key, or None when the key is fine."""
        problem = secret_vault.key_problem()
        if not problem:
            return None
        if problem[0] == "missing":
            return self._ksef_key_missing_message()
        return self._ksef_key_invalid_message(problem[1])

    def _ksef_key_missing_message(self):
        return self.env._(
            "KSeF tokens cannot be stored: no encryption key is configured on this Odoo "
            "server. Add the line\n  ksef_token_key = %(key)s\nto the [options] section of the "
            "Odoo configuration file (or set the environment variable KSEF_TOKEN_KEY) and "
            "restart Odoo. Keep a copy of the key in a safe place: without it the stored "
            "tokens cannot be used.",
            key=secret_vault.generate_key(),
        )

    def _ksef_check_environment_allowed(self, environment=None):
        """A neutralized database (a copy) never handles production tokens."""
        environments = {environment} if environment else set(self.mapped("environment"))
        neutralized = self.env["ir.config_parameter"].sudo().get_param("database.is_neutralized")
        if neutralized and "prod" in environments:
            raise UserError(
                self.env._(
                    "This database is a neutralized copy: production KSeF tokens cannot be used "
                    "or stored here."
                )
            )

    # ------------------------------------------------------------------
    # ACCESS SERVICE: may this user use this token for this operation?
    # ------------------------------------------------------------------

    def _ksef_usage_problems(self, operation, user=None, company=None):
        """Translated reasons why ``user`` may not use this token for ``operation``
        (``'fetch'``, ``'send'`` or ``'administer'``) on behalf of ``company``; empty when
        allowed. Every feature that uses a token goes through this check."""
        self.ensure_one()
        if operation not in OPERATION_GROUPS:
            raise ValueError(f"unknown KSeF operation {operation!r}")
        user = user or self.env.user
        token = self.sudo()
        problems = []
        group = self.env.ref(OPERATION_GROUPS[operation])
        if not user.has_group(OPERATION_GROUPS[operation]):
            problems.append(
                self.env._(
                    "%(user)s is not in the group %(group)s.",
                    user=user.name,
                    group=group.full_name,
                )
            )
        if token.company_id not in user.company_ids:
            problems.append(
                self.env._(
                    "%(user)s has no access to the company %(company)s.",
                    user=user.name,
                    company=token.company_id.name,
                )
            )
        if company and company not in user.company_ids:
            problems.append(
                self.env._(
                    "%(user)s has no access to the company %(company)s.",
                    user=user.name,
                    company=company.name,
                )
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
        if token.state != "active" or not token.active:
            problems.append(
                self.env._(
                    "The token is not active in KSeF (status: %(state)s).",
                    state=dict(self._fields["state"]._description_selection(self.env)).get(
                        token.state
                    ),
                )
            )
        elif not token.has_secret:
            problems.append(self.env._("Odoo holds no secret for this token."))
        if token.expiry_date and token.expiry_date < fields.Date.context_today(self):
            problems.append(self.env._("The token expired on %(date)s.", date=token.expiry_date))
        return problems

    def _ksef_check_use(self, operation, user=None, company=None):
        """Raise an AccessError naming what is missing unless ``user`` may use the token."""
        problems = self._ksef_usage_problems(operation, user=user, company=company)
        if problems:
            raise AccessError(
                self.env._(
                    "The KSeF token %(token)s cannot be used to %(operation)s:\n%(problems)s",
                    token=self.sudo().display_name,
                    operation=self._ksef_operation_label(operation),
                    problems="\n".join(f"- {p}" for p in problems),
                )
            )
        return True

    def _ksef_operation_label(self, operation):
        return {
            "fetch": self.env._("fetch invoices"),
            "send": self.env._("send invoices"),
            "administer": self.env._("administer KSeF tokens"),
        }[operation]

    # ------------------------------------------------------------------
    # HELPERS
    # ------------------------------------------------------------------

    def _ksef_post(self, body):
        """Post an audit message on the token (never with a secret in it)."""
        for token in self:
            token.sudo().message_post(body=body, message_type="notification")

    # ------------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------------

    @api.model
    @ksef_identity_checked
    def action_ksef_open_import(self, *_selected_ids):
        """List header button (the web client passes the selected ids, if any: ignored) and
        menu: open the import wizard."""
        return self.env["ksef.token.import"].action_open()
