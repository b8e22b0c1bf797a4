import functools
import logging

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..ksef import permissions as ksef_perms
from ..ksef import tokens as ksef_tokens
from ..ksef.errors import (
    KsefApiError,
    KsefAuthFailed,
    KsefError,
    KsefIdentifierError,
    KsefTokenFormatError,
)
from ..models import secret_vault
from ..models.ksef_access import ADMIN_GROUP
from ..models.ksef_exceptions import KsefRetryLater
from ..models.ksef_token import SCOPES, TOKEN_TYPES
from ..models.ksef_ui import check_description_text
from ..models.res_company import KSEF_ENVIRONMENTS

_logger = logging.getLogger(__name__)

WIZARD_AAD = "ksef.token.import"
#: wizard columns that hold a pasted token or a signed login to KSeF: kept only for the step
INPUT_FIELDS = ("token_sealed", "signed_file", "auth_request", "session_sealed")


def wipes_inputs(method):
    """Wipe the wizard's pasted token and signed files when ``method`` (a step) succeeds or
    is refused; a refusal's wipe is committed on a cursor of its own, so that it survives
    the rollback of the refused request."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
        except (UserError, KsefError):
            self._ksef_wipe_inputs(refused=True)
            raise
        self._ksef_wipe_inputs()
        return result

    return wrapper


class KsefTokenImport(models.TransientModel):
    """Register a token generated in the Ministry's web application (Aplikacja Podatnika).

    The pasted token never reaches the database in clear, not even in this wizard's table:
    ``token_text`` is not stored; its inverse keeps only a ciphertext (see secret_vault).
    Everything is validated before anything is stored; any error leaves no trace.
    """

    _name = "ksef.token.import"
    _description = "Import a KSeF Token"

    scope = fields.Selection(SCOPES, required=True, default="company")
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company.root_id,
        # the user's companies, active in the switcher or not (see res.company._search)
        domain="[('parent_id', '=', False)]",
        context={"ksef_company_picker": True},
    )
    allowed_company_ids = fields.Many2many("res.company", compute="_compute_allowed_company_ids")
    branch_id = fields.Many2one(
        "res.company",
        domain="[('id', 'child_of', company_id), ('id', '!=', company_id), "
        "('ksef_internal_id', '!=', False)]",
        context={"ksef_company_picker": True},
        help="For a branch token (or an operator token of a branch): the branch whose KSeF "
        "internal ID the token belongs to.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Operator",
        domain="[('id', 'in', operator_candidate_ids)]",
        help="The user the operator token is for: users of the chosen company (or branch) "
        "whose KSeF group covers the token type.",
    )
    operator_candidate_ids = fields.Many2many(
        "res.users",
        compute="_compute_operator_candidate_ids",
        store=True,
    )
    environment = fields.Selection(
        KSEF_ENVIRONMENTS,
        required=True,
        compute="_compute_environment",
        store=True,
        readonly=False,
    )
    token_type = fields.Selection(TOKEN_TYPES, string="Type", required=True, default="custom")
    permission_ids = fields.Many2many(
        "ksef.permission",
        string="KSeF Permissions",
        compute="_compute_permission_ids",
        store=True,
        readonly=False,
    )
    description = fields.Char(
        required=True,
        default=lambda self: self.env._("Token from the KSeF taxpayer application"),
    )
    expiry_date = fields.Date(string="Expires On")
    token_text = fields.Char(
        string="KSeF Token",
        compute="_compute_token_text",
        inverse="_inverse_token_text",
        help="Paste the whole token exactly as KSeF showed it: reference number | context | "
        "secret.",
    )
    token_sealed = fields.Char(copy=False)
    key_configured = fields.Boolean(
        default=lambda self: secret_vault.is_configured(), readonly=True
    )

    # ------------------------------------------------------------------
    # COMPUTE
    # ------------------------------------------------------------------

    @api.depends_context("uid")
    def _compute_allowed_company_ids(self):
        for wizard in self:
            wizard.allowed_company_ids = self.env.user.company_ids

    def _ksef_env_for(self, company):
        """This wizard in an environment where ``company`` is active too: the user may act on
        any of their companies, whichever are active in the switcher (the token's multi-company
        rule follows the active companies)."""
        companies = self.env.companies | company
        return self.with_context(allowed_company_ids=companies.ids)

    @api.depends("company_id", "branch_id")
    def _compute_environment(self):
        for wizard in self:
            company = wizard.branch_id or wizard.company_id
            if company:
                # sudo: the company may be one of the user's not active in the switcher
                wizard.environment = company.sudo().ksef_environment or "test"
            else:
                # no company chosen (yet): keep what the user had, never silently "test"
                wizard.environment = wizard.environment or False

    @api.depends("scope", "company_id", "branch_id", "token_type", "permission_ids")
    def _compute_operator_candidate_ids(self):
        for wizard in self:
            company = wizard.branch_id or wizard.company_id
            if not company:
                wizard.operator_candidate_ids = False
                continue
            users = (
                self.env["res.users"]
                .sudo()
                .search([("share", "=", False), ("company_ids", "in", company.id)])
            )
            groups = wizard._operator_groups()
            wizard.operator_candidate_ids = users.filtered(
                lambda u, gs=groups: any(u.has_group(g) for g in gs)
            )

    def _operator_groups(self):
        """The KSeF groups of which an operator must hold one to use a token of this wizard's
        type (a custom token: one covering any of its invoice permissions)."""
        if self.token_type == "A":
            return [ADMIN_GROUP]
        return self.env["ksef.access"]._ksef_operator_groups(
            ksef_perms.TOKEN_TYPE_PERMISSIONS.get(self.token_type)
            or self.permission_ids.mapped("name")
        )

    @api.depends("token_type")
    def _compute_permission_ids(self):
        perms = self.env["ksef.permission"]
        for wizard in self:
            if wizard.token_type == "custom":
                if not wizard.permission_ids:
                    wizard.permission_ids = perms._by_names(("InvoiceRead", "InvoiceWrite"))
                continue
            wizard.permission_ids = perms._by_names(self._preset_permissions(wizard.token_type))

    @api.model
    def _preset_permissions(self, token_type):
        """Permissions assumed for an imported token of type A/W/P. A type-A token carries
        what its author held; until KSeF tells us (sync), assume the administrative set."""
        return ksef_perms.TOKEN_TYPE_PERMISSIONS.get(token_type, ())

    def _compute_token_text(self):
        # Write-only: the value is never read back from the database.
        for wizard in self:
            wizard.token_text = False

    def _inverse_token_text(self):
        for wizard in self:
            text = wizard.token_text
            if not text:
                wizard.token_sealed = False
                continue
            if problem := self.env["ksef.token"]._ksef_key_problem_message():
                raise UserError(problem)
            # Bound inputs only: anything longer is refused by the parser anyway.
            wizard.token_sealed = secret_vault.encrypt(text[:4096], WIZARD_AAD)

    @api.onchange("scope")
    def _onchange_scope(self):
        if self.scope == "company":
            self.branch_id = False
        if self.scope != "user":
            self.user_id = False

    # ------------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------------

    def _ksef_wipe_inputs(self, refused=False):
        """Forget the pasted token and the signed files of these wizard rows."""
        fnames = [f for f in INPUT_FIELDS if f in self._fields]
        if refused and self.ids:
            # the refused request rolls back: write the wipe on a cursor of its own
            try:
                with self.env.registry.cursor() as cr:
                    if not self.env.registry.in_test_mode():
                        cr.execute("SET LOCAL lock_timeout = '2s'")
                    cr.execute(
                        SQL(
                            "UPDATE %s SET %s WHERE id IN %s",
                            SQL.identifier(self._table),
                            SQL(", ").join(SQL("%s = NULL", SQL.identifier(f)) for f in fnames),
                            tuple(self.ids),
                        )
                    )
            except psycopg2.Error:
                _logger.warning("KSeF wizard %s %s: inputs not wiped", self._name, self.ids)
            # and in this transaction (and the cache) too, never hiding the refusal
            try:
                with self.env.cr.savepoint():
                    self.sudo().write(dict.fromkeys(fnames, False))
            except Exception:  # noqa: BLE001 - the refusal is what the user must see
                _logger.warning("KSeF wizard %s %s: inputs not wiped", self._name, self.ids)
            return
        self.sudo().write(dict.fromkeys(fnames, False))

    @api.model
    def action_open(self, company=None):
        """Open the wizard (from the token list or the company settings)."""
        self.env["ksef.access"]._ksef_check_admin()
        context = dict(self.env.context)
        if company:
            root = company.root_id
            context["default_company_id"] = root.id
            if company.parent_id and company.ksef_internal_id:
                context.update(default_scope="branch", default_branch_id=company.id)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Import a KSeF Token"),
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
            "context": context,
        }

    def action_ksef_sandbox_token(self):
        """Button (Sandbox only): a practice token issued by the Sandbox, shown once."""
        self.ensure_one()
        return self.env["ksef.sandbox.token"]._ksef_open_for(self)

    @wipes_inputs
    def action_import(self):
        """Validate everything, then store the token encrypted; returns the token's form."""
        self.ensure_one()
        self.env["ksef.access"]._ksef_check_admin()
        values, parsed = self._prepare_token_values()
        # KSeF is asked before anything is stored: a token it refuses leaves no trace
        info, unverified_reason = self._ksef_verify(
            parsed, self.env["res.company"].browse(values["company_id"])
        )
        Token = self._ksef_env_for(self.env["res.company"].browse(values["company_id"])).env[
            "ksef.token"
        ]
        if info:
            values.update(Token._ksef_values_from_info(info, new=True))
        else:
            values.update(state="unverified", status_details=unverified_reason)
        # all or nothing, even for callers that do not roll back on error
        with self.env.cr.savepoint():
            token = Token.create(values)
            token.sudo()._ksef_store_secret(parsed.token)
        summary = self.env._(
            "Token imported by %(user)s: environment %(environment)s, context %(context)s, "
            "type %(type)s, permissions %(permissions)s.",
            user=self.env.user.name,
            environment=self._label("environment"),
            context=parsed.context.token_prefix,
            type=dict(token._fields["token_type"]._description_selection(self.env))[
                token.token_type
            ],
            permissions=", ".join(token.permission_ids.mapped("name")) or "-",
        )
        if info:
            summary += " " + self.env._("KSeF confirmed the token is active.")
        else:
            summary += " " + self.env._(
                "It is not verified yet (%(reason)s): no job uses it until the next sync or "
                "connectivity check verifies it with KSeF.",
                reason=unverified_reason,
            )
        token._ksef_post(summary)
        self.token_sealed = False
        _logger.info(
            "KSeF token %s imported by uid %s for company %s",
            token.reference_number,
            self.env.uid,
            token.company_id.id,
        )
        return self._action_open_token(token)

    def _ksef_verify(self, parsed, context_company):
        """Ask KSeF about the pasted token: authenticate with it in its own context and read
        its own metadata (``GET /tokens/{referenceNumber}``).

        :returns: ``(TokenInfo, False)`` when KSeF confirmed it is active, or
            ``(None, reason)`` when KSeF could not answer now (unreachable, 429, 5xx, still
            pending): the token may then only be stored as not verified yet
        :raises UserError: KSeF refused the token (nothing may be stored)
        """
        Messages = self.env["ksef.messages"]
        service = self.env["ksef.session.service"]
        try:
            with service._ksef_secret_session(
                self.environment, parsed, context_company._ksef_authorization_policy()
            ) as session:
                info = session.run(session.client.get_token, parsed.reference_number)
        except KsefRetryLater as e:
            return None, str(e)
        except KsefAuthFailed as e:
            if e.retryable:
                return None, Messages._ksef_message(e)
            raise UserError(self._ksef_refused_message(Messages._ksef_message(e))) from None
        except KsefApiError as e:
            raise UserError(self._ksef_refused_message(Messages._ksef_message(e))) from None
        except KsefError as e:
            _logger.warning("KSeF verification of an imported token failed: %s", e)
            return None, Messages._ksef_message(e)
        if info.status == "Active":
            return info, False
        if info.status == "Pending":
            return None, self.env._("KSeF has not activated the token yet")
        raise UserError(
            self._ksef_refused_message(
                self.env._("KSeF reports the token as %(status)s.", status=info.status or "-")
            )
        )

    def _ksef_refused_message(self, reason):
        return self.env._(
            "KSeF (environment %(environment)s) refused this token, so it was not imported: "
            "%(reason)s",
            reason=reason,
            environment=self._label("environment"),
        )

    def _label(self, field_name):
        """The translated label of this wizard's value of a selection field."""
        return dict(self._fields[field_name]._description_selection(self.env))[self[field_name]]

    def _action_open_token(self, token):
        return {
            "type": "ir.actions.act_window",
            "res_model": "ksef.token",
            "res_id": token.id,
            "view_mode": "form",
            "target": "current",
            # the token's company may not be active in the switcher
            "context": {"allowed_company_ids": (self.env.companies | token.company_id).ids},
        }

    # ------------------------------------------------------------------
    # VALIDATION
    # ------------------------------------------------------------------

    def _uses_branch(self):
        return self.scope == "branch" or (self.scope == "user" and bool(self.branch_id))

    def _context_company(self):
        """The company record whose KSeF context the token must belong to."""
        return self.branch_id if self._uses_branch() else self.company_id

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_description_text(self.env, vals, "description")
        return super().create(vals_list)

    def write(self, vals):
        check_description_text(self.env, vals, "description")
        return super().write(vals)

    def _ksef_check_scope(self, description_max=256):
        """Checks shared by the import and generate wizards: encryption key, environment,
        companies, branch and operator choices, description. Returns the company (or branch)
        whose KSeF context the token belongs to."""
        if problem := self.env["ksef.token"]._ksef_key_problem_message():
            raise UserError(problem)
        self.env["ksef.token"]._ksef_check_environment_allowed(self.environment)
        company = self.company_id
        self.env["ksef.access"]._ksef_check_admin(company)
        if not company.ksef_nip:
            raise UserError(
                self.env._(
                    "The company %(company)s has no valid Polish NIP in its Tax ID. Set it "
                    "before using KSeF tokens.",
                    company=company.name,
                )
            )
        if self.scope == "branch" and not self.branch_id:
            raise UserError(self.env._("Choose the branch the token belongs to."))
        if self.scope == "user" and not self.user_id:
            raise UserError(self.env._("Choose the operator (user) the token is for."))
        context_company = self._context_company()
        self.env["ksef.access"]._ksef_check_admin(context_company)
        if self.branch_id and (
            self.branch_id.root_id != company.root_id or not self.branch_id.ksef_internal_id
        ):
            raise UserError(
                self.env._(
                    "%(branch)s is not a branch of %(company)s with a KSeF internal ID.",
                    branch=self.branch_id.name,
                    company=company.name,
                )
            )
        if self.user_id and context_company not in self.user_id.company_ids:
            raise UserError(
                self.env._(
                    "%(user)s has no access to %(company)s, so a token of that company cannot be "
                    "theirs.",
                    user=self.user_id.name,
                    company=context_company.name,
                )
            )
        if self.user_id and self.user_id not in self.operator_candidate_ids:
            raise UserError(
                self.env._(
                    "%(user)s is not a user of %(company)s whose KSeF group covers a token of "
                    "this type. Choose one of the users offered, or give %(user)s the KSeF group "
                    "first.",
                    user=self.user_id.name,
                    company=context_company.name,
                )
            )
        if not 5 <= len((self.description or "").strip()) <= description_max:
            raise UserError(
                self.env._(
                    "The description must have 5 to %(max)s characters.", max=description_max
                )
            )
        return context_company

    def _prepare_token_values(self):
        """Check the input; return (ksef.token values, ParsedToken) or raise UserError."""
        context_company = self._ksef_check_scope()
        description = self.description.strip()
        if not self.permission_ids:
            raise UserError(self.env._("Choose at least one KSeF permission."))

        parsed = self._parse_pasted_token()
        expected = context_company._ksef_context("branch" if self._uses_branch() else "company")
        if (parsed.context.type, parsed.context.value) != (expected.type, expected.value):
            raise UserError(
                self.env._(
                    "This token belongs to the KSeF context %(token_context)s, but you chose "
                    "%(company)s (%(expected)s). Choose the company or branch the token was "
                    "generated for.",
                    token_context=parsed.context.token_prefix,
                    company=context_company.name,
                    expected=expected.token_prefix,
                )
            )
        known = (
            self.env["ksef.token"]
            .sudo()
            .with_context(active_test=False)
            .search([("reference_number", "=", parsed.reference_number)], limit=1)
        )
        if known and known.environment != self.environment:
            raise UserError(
                self.env._(
                    "The token %(reference)s is already registered in Odoo for the KSeF "
                    "environment %(environment)s. A token belongs to one environment only: it "
                    "was not imported again.",
                    reference=parsed.reference_number,
                    environment=dict(known._fields["environment"]._description_selection(self.env))[
                        known.environment
                    ],
                )
            )
        if known:
            raise UserError(
                self.env._(
                    "The token %(reference)s is already registered in Odoo; it was not imported "
                    "again.",
                    reference=parsed.reference_number,
                )
            )
        values = {
            "name": description,
            "company_id": context_company.id,
            "scope": self.scope,
            "operator_id": self.user_id.id,
            "context_type": parsed.context.type,
            "context_value": parsed.context.value,
            "environment": self.environment,
            "token_type": self.token_type,
            "permission_ids": [(6, 0, self.permission_ids.ids)],
            "reference_number": parsed.reference_number,
            # replaced by what KSeF says (action_import): verified, or not verified yet
            "state": "unverified",
            "origin": "imported",
            "expiry_date": self.expiry_date,
            "user_ids": [(6, 0, self.user_id.ids)],
            "assigned_company_ids": [(6, 0, [] if self.scope == "user" else context_company.ids)],
        }
        return values, parsed

    def _parse_pasted_token(self):
        """The ParsedToken of the pasted text, or a translated UserError saying what it is."""
        text = ""
        if self.token_sealed:
            try:
                text = secret_vault.decrypt(self.token_sealed, WIZARD_AAD)
            except secret_vault.VaultDecryptError as e:
                raise UserError(self.env._("Paste the token again.")) from e
        try:
            return ksef_tokens.parse_token(text)
        except (KsefTokenFormatError, KsefIdentifierError) as e:
            raise UserError(self._token_error_message(getattr(e, "kind", "malformed"))) from None

    def _token_error_message(self, kind):
        generate_hint = self.env._(
            "Generate a KSeF 2.0 token in the KSeF taxpayer application (Aplikacja Podatnika "
            "KSeF 2.0) or from Odoo (KSeF > Tokens > Generate), then paste it whole."
        )
        messages = {
            "empty": self.env._("Paste the KSeF token: the field is empty."),
            "too_long": self.env._(
                "This text is far longer than a KSeF token (at most 160 characters). Paste only "
                "the token."
            ),
            "multiple": self.env._(
                "This text contains more than one token. Import them one at a time."
            ),
            "ksef1": self.env._(
                "This is a KSeF 1.0 token (64 characters, no '|'). KSeF 1.0 tokens do not work "
                "in KSeF 2.0, which has been in use since February 2026."
            )
            + " "
            + generate_hint,
            "jwt": self.env._(
                "This is a KSeF access or refresh token (a JWT), not a KSeF token. Those are "
                "issued for a session and expire within minutes or days."
            )
            + " "
            + generate_hint,
            "reference_only": self.env._(
                "This is only the reference number of a token, without its secret. KSeF shows "
                "the whole token (reference number | context | secret) only once, when it is "
                "generated."
            )
            + " "
            + generate_hint,
            "challenge": self.env._(
                "This is an authentication challenge, not a token. It is used once during a "
                "login and expires after 10 minutes."
            ),
            "bad_reference": self.env._(
                "The first part of the token is not a KSeF token reference number (like "
                "20251010-EC-1DCE3E3000-12ECB5B36E-45). Paste the token exactly as KSeF showed "
                "it."
            ),
            "bad_context": self.env._(
                "The middle part of the token is not a KSeF context (nip-<NIP> or "
                "internalId-<NIP>-<5 digits>). Paste the token exactly as KSeF showed it."
            ),
            "bad_context_checksum": self.env._(
                "The NIP or internal ID inside the token has a wrong check digit: the token is "
                "damaged. Paste it again exactly as KSeF showed it."
            ),
            "bad_secret": self.env._(
                "The last part of the token (its secret, 64 hexadecimal characters) is "
                "incomplete or damaged. Paste the token again exactly as KSeF showed it."
            ),
        }
        return messages.get(
            kind,
            self.env._(
                "This is not a KSeF 2.0 token. A KSeF token looks like "
                "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|<64 hexadecimal characters>."
            ),
        )
