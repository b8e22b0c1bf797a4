import logging

from lxml import etree

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..ksef.errors import KsefError
from .ksef_exceptions import KsefRetryLater
from .ksef_time import naive_utc
from .ksef_ui import check_description_text, ksef_identity_checked
from .res_company import KSEF_ENVIRONMENTS

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
#: fields KSeF fixes at generation: written only from what KSeF says (see ``write``)
KSEF_FIXED_FIELDS = {"token_type", "permission_ids"}
#: context flag of the code that writes what KSeF said (generation, verification, sync)
KSEF_SOURCED_CONTEXT = "ksef_sourced"
#: states in which the token may still be alive in KSeF (never deleted from Odoo then)
LIVE_STATES = ("pending", "active", "revoking")


class KsefToken(models.Model):
    """A KSeF 2.0 authorization token known to Odoo.

    The secret never is an ORM field: it lives encrypted (see :mod:`.secret_vault`) in the
    column ``secret_ciphertext`` that only :meth:`_ksef_store_secret` and
    :meth:`_ksef_get_secret` touch, with raw SQL, in sudo mode. Reads, exports, searches,
    group-bys, tracking and RPC therefore cannot reach it, whoever asks.
    """

    _name = "ksef.token"
    _description = "KSeF Token"
    _inherit = ["ksef.secret.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "company_id, state, date_created desc, id desc"

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
        help="When the token stops working, if it was given an end when it was made. Whatever "
        "this date, no KSeF token is used after the date of the setting KSeF tokens usable "
        "until.",
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
    secret_hint = fields.Char(
        string="Secret Ends With",
        readonly=True,
        copy=False,
        help="The last characters of the secret, to recognise the token.",
    )
    permission_names = fields.Char(compute="_compute_permission_names")
    last_sync_date = fields.Datetime(string="Last Sync", readonly=True)
    end_date = fields.Date(
        compute="_compute_end_date",
        string="Usable Until",
        help="When the token stops working: its expiry date, at the latest the date of the "
        "setting KSeF tokens usable until.",
    )
    revoked_from_odoo = fields.Boolean(
        readonly=True,
        copy=False,
        help="Revoked on purpose from Odoo: no warning that it stopped working.",
    )
    connectivity_check_date = fields.Datetime(
        string="Last Connectivity Check", readonly=True, copy=False
    )
    connectivity_ok = fields.Boolean(
        string="Connectivity OK",
        readonly=True,
        copy=False,
        help="Whether the last connectivity check could authenticate with the token in KSeF.",
    )
    connectivity_message = fields.Char(readonly=True, copy=False)

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

    @api.depends("permission_ids")
    def _compute_permission_names(self):
        for token in self:
            token.permission_names = ", ".join(token.permission_ids.mapped("name"))

    @api.depends("expiry_date")
    def _compute_end_date(self):
        legal_end = self.env["ksef.health"]._ksef_legal_end()
        for token in self:
            token.end_date = min(token.expiry_date or legal_end, legal_end)

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
            and not self.env["ksef.access"]._ksef_is_admin()
        ):
            res["active"]["readonly"] = True
        return res

    @api.model
    def get_views(self, views, options=None):
        """Deleting is for KSeF administrators: the others get list and form views without
        Delete in the Actions menu (it would end in an access error)."""
        res = super().get_views(views, options)
        if not self.env["ksef.access"]._ksef_is_admin():
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

    # ------------------------------------------------------------------
    # AS A CREDENTIAL OF THE SESSION FACTORY
    # ------------------------------------------------------------------

    def _ksef_session_where(self):
        """The condition selecting this credential's ``ksef.session`` row."""
        return SQL("token_id = %s", self.id)

    def _ksef_session_key(self):
        """What binds the cached JWTs' ciphertexts to this credential (AAD)."""
        return str(self.id)

    def _ksef_session_insert(self):
        """``(columns, values, conflict target)`` creating this credential's session row."""
        return SQL("token_id"), SQL("%s", self.id), SQL("(token_id)")

    def _ksef_after_authentication(self, client, access_token):
        """A token carries its permissions (``permission_ids``): nothing to read."""
        return None

    def _ksef_authenticate(self, client, policy):
        """Authenticate in KSeF with this token's secret (called by ``ksef.session`` under its
        row lock); returns KSeF's authentication tokens. Sudo only."""
        self.ensure_one()
        from .ksef_session_service import AUTH_POLL

        return client.authenticate_with_ksef_token(
            self._ksef_get_secret(), authorization_policy=policy, **AUTH_POLL
        )

    # ------------------------------------------------------------------
    # WHAT KSEF SAYS ABOUT A TOKEN
    # ------------------------------------------------------------------

    @api.model
    def _ksef_type_of(self, permission_names):
        """The token type (A/W/P/custom) that KSeF's permission list means."""
        from ..ksef import permissions as ksef_perms

        names = set(permission_names or ())
        for token_type, preset in ksef_perms.TOKEN_TYPE_PERMISSIONS.items():
            if names == set(preset):
                return token_type
        return "A" if "CredentialsManage" in names else "custom"

    @api.model
    def _ksef_values_from_info(self, info, *, new=False):
        """``ksef.token`` values from KSeF's own metadata of a token (``TokenInfo``): the one
        place where what KSeF says of a token becomes Odoo values (import verification, sync,
        connectivity, tokens found in KSeF). ``new``: for a token Odoo learns of now (its
        type, author and creation date too)."""
        values = {
            "state": KSEF_STATUS_TO_STATE.get(info.status, "pending"),
            "last_sync_date": fields.Datetime.now(),
            "status_details": "\n".join(info.status_details or ()) or False,
        }
        if info.last_use_date:
            values["last_use_date"] = naive_utc(info.last_use_date)
        if info.requested_permissions or new:
            perms = self.env["ksef.permission"]._by_names(info.requested_permissions or ())
            values["permission_ids"] = [(6, 0, perms.ids)]
        if new:
            values.update(
                token_type=self._ksef_type_of(info.requested_permissions),
                date_created=naive_utc(info.date_created) or False,
                author_identifier=info.author_identifier and info.author_identifier.value,
            )
        return values

    def _ksef_apply_info(self, info):
        """Write what KSeF says of this known token; a token KSeF ended loses its secret."""
        self.ensure_one()
        values = self._ksef_values_from_info(info)
        if "permission_ids" in values and set(values["permission_ids"][0][2]) == set(
            self.permission_ids.ids
        ):
            del values["permission_ids"]
        if values["state"] == self.state:
            del values["state"]
        token = self.sudo().with_context(**{KSEF_SOURCED_CONTEXT: True})
        token.write(values)
        if token.state in ("revoked", "failed") and token.has_secret:
            token._ksef_wipe_secret()

    def _ksef_refuse_unverified(self, reason):
        """KSeF refused an imported token when verifying it: failed, secret wiped, said why."""
        self.ensure_one()
        token = self.sudo()
        token.write({"state": "failed", "status_details": reason})
        if token.has_secret:
            token._ksef_wipe_secret()
        token._ksef_post(
            self.env._(
                "KSeF refused the imported token when verifying it: %(reason)s Archive it and "
                "import a valid token.",
                reason=reason,
            )
        )

    # ------------------------------------------------------------------
    # HELPERS
    # ------------------------------------------------------------------

    def _ksef_post(self, body):
        """Post an audit message on the token (never with a secret in it)."""
        for token in self:
            token.sudo().message_post(body=body, message_type="notification")

    @api.model
    def _ksef_notify(self, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": kind, "sticky": kind != "success"},
        }

    # ------------------------------------------------------------------
    # ACTIONS (buttons and menus: each asks the service that does the work)
    # ------------------------------------------------------------------

    @api.model
    @ksef_identity_checked
    def action_ksef_open_import(self, *_selected_ids):
        """List header button (the web client passes the selected ids, if any: ignored) and
        menu: open the import wizard."""
        return self.env["ksef.token.import"].action_open()

    @api.model
    @ksef_identity_checked
    def action_ksef_open_generate(self, *_selected_ids):
        """List header button and menu: open the generation wizard."""
        return self.env["ksef.token.generate"].action_open()

    @api.model
    def action_ksef_sync(self, *_selected_ids):
        """List and form header button: sync the contexts of all the user's companies now."""
        return self.env["ksef.token.sync"]._ksef_sync_now()

    @api.model
    @ksef_identity_checked
    def action_ksef_open_revoke(self):
        """Server action (list, Actions menu): confirm, then revoke the selected tokens."""
        tokens = self.browse(self.env.context.get("active_ids") or [])
        self.env["ksef.access"]._ksef_check_admin(tokens.company_id)
        return self.env["ksef.token.revoke"].action_open(tokens)

    @api.model
    def action_ksef_open_share(self):
        tokens = self.browse(self.env.context.get("active_ids") or [])
        self.env["ksef.access"]._ksef_check_admin(tokens.company_id)
        return self.env["ksef.token.share"].action_open(tokens)

    def action_ksef_revoke_form(self):
        """Token form button: the revoke wizard for this token (password asked first)."""
        return self.with_context(
            active_ids=self.ids, active_model=self._name
        ).action_ksef_open_revoke()

    def action_ksef_share_form(self):
        """Token form button: the share wizard for this token."""
        return self.with_context(
            active_ids=self.ids, active_model=self._name
        ).action_ksef_open_share()

    def action_ksef_test_connection(self):
        """Token form button: authenticate with this token in KSeF and say how it went."""
        self.ensure_one()
        self.env["ksef.access"]._ksef_check_admin(self.company_id)
        try:
            with self.env["ksef.session.service"].get_client_for_token(self):
                pass
        except KsefRetryLater as e:
            return self._ksef_notify(
                self.env._(
                    "KSeF cannot be asked now (%(reason)s). Try again in %(seconds)s seconds.",
                    reason=str(e),
                    seconds=e.retry_after,
                ),
                "warning",
            )
        except (KsefError, UserError) as e:
            return self._ksef_notify(
                self.env._(
                    "KSeF did not accept the token %(token)s: %(reason)s",
                    token=self.display_name,
                    reason=self.env["ksef.messages"]._ksef_message(e),
                ),
                "danger",
            )
        return self._ksef_notify(
            self.env._(
                "Connection works: KSeF (environment %(environment)s) accepted the token "
                "%(token)s.",
                environment=dict(self._fields["environment"]._description_selection(self.env))[
                    self.environment
                ],
                token=self.display_name,
            ),
            "success",
        )
