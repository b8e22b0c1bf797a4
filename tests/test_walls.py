"""The walls between users and companies: wizard rows, the generation journal, neutralized
copies and the service API (issue 9)."""

import base64
import json
import re
import time
from unittest.mock import patch

import odoo.http
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.modules.module import get_module_path
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import config, mute_logger

from .common import GROUP_ADMIN
from .ksef_sim_case import CTX_A, KsefSimCase
from .session_common import CertificateMixin, KsefSessionCase

#: column names that hold a sealed secret or a KSeF login (signed challenge)
SEALED_COLUMN = re.compile(r"(_sealed$|ciphertext|^signed_file$|^auth_request$)")


class WallsMixin:
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin_a_bis = new_test_user(
            cls.env,
            login="adm_a_bis",
            groups=f"base.group_user,{GROUP_ADMIN}",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )
        cls.portal = new_test_user(
            cls.env, login="portal_w", groups="base.group_portal", company_id=cls.company_a.id
        )


@tagged("post_install", "-at_install")
class TestWizardWalls(CertificateMixin, WallsMixin, KsefSimCase):
    def wizards(self):
        """One unfinished row of each wizard model, made by admin_a."""
        token, _s = self.import_token()
        env = self.as_user(self.admin_a)
        generate = self.generate_wizard()
        generate.action_prepare_request()
        self.sign(generate)
        imp = self.import_wizard(token_text=self.issued_token(CTX_A, ["InvoiceRead"]))
        revoke = env["ksef.token.revoke"].create({"token_ids": [(6, 0, token.ids)]})
        share = env["ksef.token.share"].create({"token_ids": [(6, 0, token.ids)]})
        request = env["ksef.certificate.request"].create(
            {"company_id": self.company_a.id, "environment": "test", "description": "Odoo faktury"}
        )
        request.action_prepare_request()
        self.sign(request)
        certificate = self.stored_certificate()
        certificate_revoke = env["ksef.certificate.revoke"].create(
            {"certificate_ids": [(6, 0, certificate.ids)]}
        )
        Export = env["ksef.certificate.export"]
        export = Export.browse(Export.action_open(certificate)["res_id"])
        readiness = env["ksef.cutoff.readiness"].browse(
            env["ksef.cutoff.readiness"].action_open(self.company_a)["res_id"]
        )
        return {
            imp: "action_import",
            generate: "action_generate",
            revoke: "action_revoke",
            share: "action_apply",
            request: "action_check_limits",
            certificate_revoke: "action_revoke",
            readiness: "action_test_certificates",
            readiness.line_ids[:1]: "read",
            export: "action_export",
        }

    def test_other_users_cannot_touch_a_wizard(self):
        wizards = self.wizards()
        for user in (self.admin_a_bis, self.admin_b, self.portal):
            env = self.as_user(user)
            for wizard, action in wizards.items():
                with self.subTest(model=wizard._name, user=user.login):
                    mine = env[wizard._name].browse(wizard.id)
                    if env[wizard._name].has_access("read"):
                        self.assertFalse(env[wizard._name].search([("id", "=", wizard.id)]))
                    with mute_logger("odoo.models"), self.assertRaises(AccessError):
                        mine.read(["create_uid"])
                    with mute_logger("odoo.models"), self.assertRaises(AccessError):
                        mine.write({"create_uid": user.id})
                    with mute_logger("odoo.models"), self.assertRaises(AccessError):
                        mine.unlink()
                    with mute_logger("odoo.models"), self.assertRaises(AccessError):
                        getattr(mine, action)()
        # nothing happened: the creator still finishes the import
        imp = next(w for w in wizards if w._name == "ksef.token.import")
        self.assertTrue(imp.token_sealed)
        imp.action_import()

    def test_creator_keeps_the_wizard(self):
        wizards = self.wizards()
        for wizard in wizards:
            self.assertTrue(wizard.read(["create_uid"]))

    def test_journal_only_for_its_company(self):
        rows = (
            self.env["ksef.pending.generation"]
            .sudo()
            .create(
                {
                    "request_key": "walls-test",
                    "environment": "test",
                    "context_type": "Nip",
                    "context_value": CTX_A.value,
                    "company_ref": self.company_a.id,
                    "user_ref": self.admin_a.id,
                    "reference_number": "20260101-EC-0000000000-0000000000-00",
                }
            )
        )
        self.assertTrue(self.as_user(self.admin_a)["ksef.pending.generation"].search([]))
        self.assertFalse(
            self.as_user(self.admin_b)["ksef.pending.generation"].search(
                [("company_ref", "=", self.company_a.id)]
            )
        )
        with mute_logger("odoo.models"), self.assertRaises(AccessError):
            self.as_user(self.admin_b)["ksef.pending.generation"].browse(rows.ids).read(
                ["reference_number"]
            )


@tagged("post_install", "-at_install")
class TestCrossCompanyRevokeShare(WallsMixin, KsefSimCase):
    def test_revoke_of_another_companys_token_says_not_done(self):
        token, _s = self.import_token()
        env = self.as_user(self.admin_b)
        wizard = env["ksef.token.revoke"].create({"token_ids": [(6, 0, token.ids)]})
        wizard.action_revoke()
        self.assertIn(f"Token #{token.id}: NOT revoked: you have no access", wizard.result)
        self.assertNotIn(token.name, wizard.result)
        self.assertEqual(token.state, "active")
        self.assertEqual(self.sim.token_info(token.reference_number)["status"], "Active")

    def test_share_of_another_companys_token_says_not_done(self):
        token, _s = self.import_token()
        env = self.as_user(self.admin_b)
        wizard = env["ksef.token.share"].create(
            {"token_ids": [(6, 0, token.ids)], "user_ids": [(6, 0, self.send_b.ids)]}
        )
        wizard.action_apply()
        self.assertIn(f"Token #{token.id}: NOT shared: you have no access", wizard.result)
        self.assertNotIn(self.send_b, token.user_ids)


@tagged("post_install", "-at_install")
class TestNeutralizeCoverage(KsefSimCase):
    def sealed_columns(self):
        self.env.cr.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name LIKE 'ksef%%'"
        )
        found = {(t, c) for t, c in self.env.cr.fetchall() if SEALED_COLUMN.search(c)}
        for model in self.env.registry.values():
            if not model._name.startswith("ksef.") or model._abstract:
                continue
            for name, field in model._fields.items():
                if field.store and SEALED_COLUMN.search(name):
                    found.add((model._table, name))
        return found

    def test_every_sealed_column_is_neutralized(self):
        with open(f"{get_module_path('l10n_pl_ksef_token')}/data/neutralize.sql") as f:
            sql = f.read()
        statements = [s for s in sql.split(";") if s.strip()]
        columns = self.sealed_columns()
        self.assertIn(("ksef_token_import", "token_sealed"), columns)
        self.assertIn(("ksef_pending_generation", "secret_sealed"), columns)
        for table, column in sorted(columns):
            with self.subTest(table=table, column=column):
                self.assertTrue(
                    any(
                        re.search(rf"\bDELETE FROM {table}\b", s)
                        or (re.search(rf"\bUPDATE {table}\b", s) and re.search(rf"\b{column}\b", s))
                        for s in statements
                    ),
                    f"{table}.{column} holds sealed values: wipe it in data/neutralize.sql",
                )

    def test_every_model_with_a_sealed_field_has_a_record_rule(self):
        for model in self.env.registry.values():
            if not model._name.startswith("ksef.") or model._abstract:
                continue
            if not any(f.store and SEALED_COLUMN.search(n) for n, f in model._fields.items()):
                continue
            with self.subTest(model=model._name):
                self.assertTrue(
                    self.env["ir.rule"].sudo().search([("model_id.model", "=", model._name)]),
                    f"{model._name} holds sealed values without a record rule",
                )

    def test_neutralize_wipes_the_sealed_values(self):
        from odoo.modules.neutralize import get_neutralization_queries

        wizard = self.import_wizard(token_text=self.issued_token(CTX_A, ["InvoiceRead"]))
        generate = self.generate_wizard()
        generate.action_prepare_request()
        self.sign(generate)
        self.env.flush_all()
        self.assertTrue(wizard.token_sealed)
        for query in get_neutralization_queries(["l10n_pl_ksef_token"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(wizard.token_sealed)
        self.assertFalse(generate.signed_file)


@tagged("post_install", "-at_install")
class TestWallsHttp(WallsMixin, KsefSimCase, HttpCase):
    def test_certificate_and_its_key_not_served_to_others(self):
        certificate = CertificateMixin.stored_certificate(self)
        self.env.flush_all()
        url = f"/web/content/ksef.certificate/{certificate.id}/certificate_der?download=true"
        for login in ("adm_b", "portal_w"):
            with self.subTest(login=login):
                self.authenticate(login, login)
                response = self.url_open(url)
                self.assertNotEqual(response.status_code, 200)
        for login in ("adm_b", "portal_w", "adm_a_bis"):
            with self.subTest(login=login):
                self.authenticate(login, login)
                answer = self.rpc(
                    "ksef.certificate", "read", [[certificate.id], ["secret_ciphertext"]]
                )
                self.assertIn("error", answer)

    def test_signed_file_not_served_to_another_company(self):
        wizard = self.generate_wizard()
        wizard.action_prepare_request()
        self.sign(wizard)
        self.env.flush_all()
        url = f"/web/content/ksef.token.generate/{wizard.id}/signed_file?download=true"
        self.authenticate("adm_b", "adm_b")
        response = self.url_open(url)
        self.assertNotEqual(response.status_code, 200)
        self.assertNotIn(base64.b64decode(wizard.signed_file)[:200], response.content)

    def rpc(self, model, method, args, kwargs=None, route="/web/dataset/call_kw"):
        response = self.url_open(
            route,
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {
                        "model": model,
                        "method": method,
                        "args": args,
                        "kwargs": kwargs or {},
                    },
                }
            ),
            headers={"Content-Type": "application/json"},
        )
        return response.json()

    def test_password_asked_before_opening_import_generate_revoke(self):
        session = self.authenticate("adm_a", "adm_a")
        for model, method in (
            ("ksef.token", "action_ksef_open_import"),
            ("ksef.token", "action_ksef_open_generate"),
            ("ksef.token", "action_ksef_open_revoke"),
        ):
            with self.subTest(method=method):
                answer = self.rpc(model, method, [], route="/web/dataset/call_button")
                self.assertEqual(answer["result"]["res_model"], "res.users.identitycheck")
        # once the password is confirmed (what /web/session/check_identity records)
        session["identity-check-last"] = time.time()
        odoo.http.root.session_store.save(session)
        answer = self.rpc(
            "ksef.token", "action_ksef_open_import", [], route="/web/dataset/call_button"
        )
        self.assertEqual(answer["result"]["res_model"], "ksef.token.import")

    def test_service_api_refused_over_rpc(self):
        self.authenticate("admin", "admin")
        for method, args in (
            ("get_client", [self.company_a.id, "send"]),
            ("get_client_for_token", [1]),
            ("call", [self.company_a.id, "send", "x"]),
        ):
            with self.subTest(method=method):
                response = self.url_open(
                    "/web/dataset/call_kw",
                    data=json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "method": "call",
                            "params": {
                                "model": "ksef.session.service",
                                "method": method,
                                "args": args,
                                "kwargs": {},
                            },
                        }
                    ),
                    headers={"Content-Type": "application/json"},
                )
                error = response.json()["error"]["data"]
                self.assertEqual(error["name"], "odoo.exceptions.UserError")
                self.assertIn("cannot be called remotely", error["message"])


@tagged("post_install", "-at_install")
class TestControlCharacters(KsefSimCase):
    def test_control_character_in_a_description_is_refused_clearly(self):
        for text in ("Token\x00 NUL", "Token\x07 bell", "Token\nline"):
            with self.subTest(text=repr(text)):
                with self.assertRaisesRegex(ValidationError, "control character"):
                    self.import_wizard(description=text)
                with self.assertRaisesRegex(ValidationError, "control character"):
                    self.generate_wizard(description=text)
                wizard = self.import_wizard()
                with self.assertRaisesRegex(ValidationError, "control character"):
                    wizard.write({"description": text})
        token, _s = self.import_token()
        with self.assertRaisesRegex(ValidationError, "control character"):
            self.as_user(self.admin_a)["ksef.token"].browse(token.ids).write({"name": "Ab\x00cdef"})
        self.assertNotIn("\x00", token.name)


@tagged("post_install", "-at_install")
class TestInvalidKey(KsefSessionCase):
    def invalid_key(self):
        return patch.dict(
            config.options, {"ksef_token_key": "not-a-valid-key", "ksef_token_old_keys": False}
        )

    def test_import_says_the_key_is_invalid_not_missing(self):
        with self.invalid_key(), self.assertRaisesRegex(UserError, "is invalid") as caught:
            self.import_token()
        self.assertNotIn("no encryption key is configured", str(caught.exception))
        self.assertIn("44 characters", str(caught.exception))

    def test_connectivity_job_logs_and_goes_on(self):
        first = self.sim_token(("InvoiceRead",), description="First token")
        second = self.sim_token(("InvoiceRead",), description="Second token")
        self.company_a.ksef_job_user_id = self.admin_a
        self.env.cr.execute("DELETE FROM ksef_session")
        with (
            self.invalid_key(),
            self.assertLogs("odoo.addons.l10n_pl_ksef_token", level="ERROR") as logs,
        ):
            self.env["ksef.connectivity"]._cron_ksef_check_connectivity()
        self.assertIn("encryption key is invalid", "\n".join(logs.output))
        for token in first | second:
            self.assertFalse(token.connectivity_ok)
            self.assertIn("is invalid", token.connectivity_message)
