"""A KSeF secret at rest: the column ``secret_ciphertext`` of a model, never an ORM field.

The secret (a KSeF token string today; a certificate's private key next) lives AES-GCM
encrypted (:mod:`.secret_vault`, with a key outside the database) in ``secret_ciphertext``,
which only :meth:`KsefSecretMixin._ksef_store_secret`, :meth:`KsefSecretMixin._ksef_get_secret`
and :meth:`KsefSecretMixin._ksef_wipe_secret` touch, with raw SQL, in sudo mode. Reads,
exports, searches, group-bys, tracking and RPC therefore cannot reach it, whoever asks.
``has_secret`` is computed from the column itself, so it cannot disagree with it.

A model using the mixin defines ``_ksef_aad()`` (the associated data binding a ciphertext to
its record) and an ``environment`` field: a neutralized copy refuses production secrets.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from . import secret_vault
from .ksef_exceptions import KsefSecretUnreadable

_logger = logging.getLogger(__name__)


class KsefSecretMixin(models.AbstractModel):
    _name = "ksef.secret.mixin"
    _description = "KSeF Secret at Rest"

    has_secret = fields.Boolean(
        string="Secret Stored",
        compute="_compute_has_secret",
        search="_search_has_secret",
        help="Whether Odoo holds the secret (encrypted) and can authenticate with it.",
    )

    def init(self):
        res = super().init()
        if not self._abstract:
            # deliberately not an ORM field (see the module docstring)
            self.env.cr.execute(
                SQL(
                    "ALTER TABLE %s ADD COLUMN IF NOT EXISTS secret_ciphertext text",
                    SQL.identifier(self._table),
                )
            )
        return res

    def _compute_has_secret(self):
        stored = set(self._ksef_ids_with_secret(self.ids))
        for token in self:
            token.has_secret = token.id in stored

    def _search_has_secret(self, operator, value):
        if operator not in ("=", "!="):
            raise UserError(self.env._("Unsupported search on Secret Stored."))
        with_secret = (operator == "=") == bool(value)
        return [("id", "in" if with_secret else "not in", self._ksef_ids_with_secret())]

    @api.model
    def _ksef_ids_with_secret(self, ids=None):
        """Ids of the tokens whose secret column holds a ciphertext (among ``ids``)."""
        query = SQL(
            "SELECT id FROM %s WHERE secret_ciphertext IS NOT NULL", SQL.identifier(self._table)
        )
        if ids is not None:
            if not ids:
                return []
            query = SQL("%s AND id IN %s", query, tuple(ids))
        self.env.cr.execute(query)
        return [row[0] for row in self.env.cr.fetchall()]

    def _ksef_check_environment_allowed(self, environment=None):
        """A neutralized database (a copy) never handles production secrets."""
        environments = {environment} if environment else set(self.mapped("environment"))
        neutralized = self.env["ir.config_parameter"].sudo().get_param("database.is_neutralized")
        if neutralized and "prod" in environments:
            raise UserError(
                self.env._(
                    "This database is a neutralized copy: production KSeF tokens and "
                    "certificates cannot be used or stored here."
                )
            )

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
            SQL(
                "UPDATE %s SET secret_ciphertext = %s WHERE id = %s",
                SQL.identifier(self._table),
                stored,
                self.id,
            )
        )
        self.invalidate_recordset(["has_secret"])
        if "secret_hint" in self._fields:
            self.write({"secret_hint": "…" + token_string[-4:]})
        _logger.info("%s %s: secret stored (uid %s)", self._description, self.id, self.env.uid)

    def _ksef_get_secret(self):
        """The decrypted token string, for the KSeF call that needs it. Sudo only."""
        self.ensure_one()
        self._ksef_require_sudo()
        self._ksef_check_environment_allowed()
        self.env.cr.execute(
            SQL(
                "SELECT secret_ciphertext FROM %s WHERE id = %s",
                SQL.identifier(self._table),
                self.id,
            )
        )
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
            SQL(
                "UPDATE %s SET secret_ciphertext = NULL WHERE id IN %s",
                SQL.identifier(self._table),
                tuple(self.ids),
            )
        )
        self.invalidate_recordset(["has_secret"])

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
