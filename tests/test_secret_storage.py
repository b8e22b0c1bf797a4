import logging
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import config, mute_logger

from ..models import secret_vault
from .common import KsefCase


def _no_key():
    """Configuration without any KSeF key (option and environment variable)."""
    return patch.dict(config.options, {"ksef_token_key": False, "ksef_token_old_keys": False})


@tagged("post_install", "-at_install")
class TestSecretStorage(KsefCase):
    def test_database_never_holds_the_plaintext(self):
        with self.assertLogs("odoo.addons.l10n_pl_ksef_token", level=logging.DEBUG) as logs:
            token, text = self.import_token()
        secret = text.rsplit("|", 1)[1]
        self.env.flush_all()
        # every column of the token row, the wizard rows, messages and tracking values
        for table in ("ksef_token", "ksef_token_import", "mail_message", "mail_tracking_value"):
            self.env.cr.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # fixed table names
            dump = "\n".join(r[0] for r in self.env.cr.fetchall())
            self.assertNotIn(secret, dump, f"plaintext secret found in {table}")
            self.assertNotIn(secret[:16], dump, f"part of the secret found in {table}")
        self.assertTrue(self.ciphertext_of(token).startswith("v1:"))
        self.assertTrue(token.has_secret)
        self.assertEqual(token.secret_hint, "…" + secret[-4:])
        for record in logs.records:
            self.assertNotIn(secret, record.getMessage())

    def test_orm_rpc_export_cannot_reach_the_secret(self):
        token, text = self.import_token()
        secret = text.rsplit("|", 1)[1]
        fields = self.env["ksef.token"].fields_get()
        self.assertNotIn("secret_ciphertext", fields)
        for field in fields:
            self.assertNotIn("secret", field.replace("has_secret", "").replace("secret_hint", ""))
        with self.assertRaises(ValueError):
            token.read(["secret_ciphertext"])
        with self.assertRaises(ValueError):
            self.env["ksef.token"].search([("secret_ciphertext", "!=", False)])
        with self.assertRaises(ValueError):
            self.env["ksef.token"].read_group([], ["secret_ciphertext"], ["secret_ciphertext"])
        exported = token.export_data(list(fields))["datas"]
        self.assertNotIn(secret, repr(exported))
        as_admin = token.with_user(self.admin_a)
        self.assertNotIn(secret, repr(as_admin.read()))

    def test_only_service_code_in_sudo_decrypts(self):
        token, text = self.import_token()
        with self.assertRaises(AccessError):
            token.with_user(self.admin_a)._ksef_get_secret()
        with self.assertRaises(AccessError):
            token.with_user(self.admin_a)._ksef_store_secret(text)
        self.assertEqual(token.sudo()._ksef_get_secret(), text)

    def test_ciphertext_is_bound_to_its_token(self):
        first, _text = self.import_token(description="Pierwszy token")
        second, _text = self.import_token(description="Drugi token")
        self.env.cr.execute(
            "UPDATE ksef_token SET secret_ciphertext = %s WHERE id = %s",
            [self.ciphertext_of(first), second.id],
        )
        with self.assertRaisesRegex(UserError, "cannot be decrypted"):
            second.sudo()._ksef_get_secret()

    def test_without_key_nothing_is_stored_and_the_message_says_what_to_do(self):
        count = self.env["ksef.token"].search_count([])
        with _no_key(), patch.dict("os.environ", {}, clear=False) as environ:
            environ.pop(secret_vault.KEY_ENV, None)
            self.assertFalse(secret_vault.is_configured())
            with self.assertRaisesRegex(UserError, "ksef_token_key") as caught:
                self.import_token()
        self.assertIn("KSEF_TOKEN_KEY", str(caught.exception))
        self.assertEqual(self.env["ksef.token"].search_count([]), count)

    def test_forms_warn_when_no_key_is_configured(self):
        for model, field in (
            ("ksef.token.import", "key_configured"),
            ("res.config.settings", "ksef_key_configured"),
        ):
            with self.subTest(model=model):
                self.assertTrue(self.env[model].default_get([field])[field])
                with _no_key(), patch.dict("os.environ", {}, clear=False) as environ:
                    environ.pop(secret_vault.KEY_ENV, None)
                    self.assertFalse(self.env[model].default_get([field])[field])

    def test_key_rotation_keeps_old_secrets_readable(self):
        token, text = self.import_token()
        old_key = config.get("ksef_token_key")
        new_key = secret_vault.generate_key()
        with patch.dict(
            config.options, {"ksef_token_key": new_key, "ksef_token_old_keys": old_key}
        ):
            self.assertEqual(token.sudo()._ksef_get_secret(), text)
        with patch.dict(config.options, {"ksef_token_key": new_key, "ksef_token_old_keys": False}):
            with self.assertRaisesRegex(UserError, "not configured"):
                token.sudo()._ksef_get_secret()

    def test_wipe_secret(self):
        token, _text = self.import_token()
        token.sudo()._ksef_wipe_secret()
        self.assertFalse(token.has_secret)
        self.assertFalse(self.ciphertext_of(token))
        with self.assertRaisesRegex(UserError, "no secret"):
            token.sudo()._ksef_get_secret()

    def test_neutralized_database_refuses_production_tokens(self):
        self.env["ir.config_parameter"].sudo().set_param("database.is_neutralized", True)
        with self.assertRaisesRegex(UserError, "neutralized"):
            self.import_token(environment="prod")
        self.assertFalse(self.env["ksef.token"].search([("environment", "=", "prod")]))
        token, text = self.import_token(environment="test")
        self.assertEqual(token.sudo()._ksef_get_secret(), text)

    @mute_logger("odoo.models.unlink")
    def test_live_tokens_cannot_be_deleted_or_copied(self):
        token, _text = self.import_token()
        with self.assertRaisesRegex(UserError, "Revoke them first"):
            token.unlink()
        with self.assertRaisesRegex(UserError, "cannot be duplicated"):
            token.copy()
        token.sudo().write({"state": "revoked"})
        token.unlink()
        self.assertFalse(token.exists())
