"""Practising import in the Sandbox: the Sandbox issues a token shown once, which then imports
and verifies. The Sandbox simulator (the one ``make_client('sandbox')`` uses) is served over
real HTTP here, as Odoo's tests refuse the in-process pseudo-host."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..ksef import tokens as ksef_tokens
from ..ksef.identifiers import ContextIdentifier
from .common import BRANCH_A1, NIP_A, KsefCase, start_http_sandbox


@tagged("post_install", "-at_install")
class TestSandboxPracticeToken(KsefCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_http_sandbox(cls)

    def setUp(self):
        super().setUp()
        self.sandbox.reset()
        self.sandbox.config.rate_limits = False
        self.sandbox.config.auth_delay = 0.0
        self.sandbox.config.token_activation_delay = 0.5  # still Pending at first: waited for

    def practice(self, user=None, **values):
        values.setdefault("environment", "sandbox")
        wizard = self.import_wizard(user=user, **values)
        return wizard, wizard.action_ksef_sandbox_token()

    def test_practice_token_is_shown_once_then_imports_and_verifies(self):
        wizard, action = self.practice(token_type="P", description="Practice in the Sandbox")
        self.assertEqual(action["res_model"], "ksef.sandbox.token")
        dialog = wizard.env["ksef.sandbox.token"].browse(action["res_id"])
        text = dialog.token_display
        parsed = ksef_tokens.parse_token(text)
        self.assertEqual(parsed.context, ContextIdentifier.nip(NIP_A))
        info = self.sandbox.token_info(parsed.reference_number)
        self.assertEqual(info["status"], "Active")
        self.assertEqual(info["requestedPermissions"], ["InvoiceRead"])
        # the Sandbox's API was used as the web app would: certificate login, POST /tokens
        self.assertEqual(self.sandbox.calls["POST /tokens"], 1)
        self.assertEqual(self.sandbox.calls["POST /auth/xades-signature"], 1)
        # into the paste field; shown once only
        back = dialog.action_use_in_import()
        self.assertEqual((back["res_model"], back["res_id"]), ("ksef.token.import", wizard.id))
        dialog.invalidate_recordset()
        self.assertFalse(dialog.token_display)
        with self.assertRaises(UserError):
            dialog.action_use_in_import()
        token = self.env["ksef.token"].browse(wizard.action_import()["res_id"])
        self.assertEqual(token.environment, "sandbox")
        self.assertEqual(token.state, "active")
        self.assertEqual(token.reference_number, parsed.reference_number)
        self.assertEqual(token.token_type, "P")
        self.assertEqual(token.permission_ids.mapped("name"), ["InvoiceRead"])
        self.assertEqual(token.sudo()._ksef_get_secret(), text)

    def test_branch_practice_token(self):
        wizard, action = self.practice(scope="branch", branch_id=self.branch_a1.id, token_type="W")
        text = wizard.env["ksef.sandbox.token"].browse(action["res_id"]).token_display
        self.assertEqual(
            ksef_tokens.parse_token(text).context, ContextIdentifier.internal_id(BRANCH_A1)
        )

    def test_refused_outside_the_sandbox(self):
        for environment in ("test", "demo", "prod"):
            with self.subTest(environment=environment):
                wizard = self.import_wizard(environment=environment)
                with self.assertRaises(UserError) as caught:
                    wizard.action_ksef_sandbox_token()
                self.assertIn("only in the Sandbox", str(caught.exception))
        self.assertEqual(self.sandbox.calls["POST /tokens"], 0)

    def test_only_ksef_administrators(self):
        wizard = self.import_wizard(environment="sandbox")
        for user in (self.send_a, self.fetch_a, self.plain_a):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                wizard.with_user(user).action_ksef_sandbox_token()
        # an administrator of another company cannot have tokens issued for company A
        with self.assertRaises(AccessError):
            self.import_wizard(user=self.admin_b, environment="sandbox").action_ksef_sandbox_token()
        self.assertEqual(self.sandbox.calls["POST /tokens"], 0)

    def test_sandbox_failure_is_a_clear_message(self):
        self.sandbox.faults.add("/tokens", method="POST", kind="error5xx", status=503, times=None)
        with self.assertRaises(UserError) as caught:
            self.practice()
        self.assertIn("The Sandbox could not issue a practice token", str(caught.exception))
