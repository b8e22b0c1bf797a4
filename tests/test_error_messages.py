"""What a person reads when KSeF refuses: one specific sentence that says what happened and
what to do, never KSeF's raw technical text (that goes to the log).

Every answer comes from the KSeF simulator over HTTP; the answers a client cannot provoke with
a well-formed token (450 "Nieprawidłowe kodowanie tokena", ...) and 403 without ``timestamp``
come from the simulator's fault hooks, which only answer what the KSeF specification documents.
"""

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..ksef.errors import KsefForbidden
from ..models import ksef_connection
from .common import NIP_A
from .ksef_sim_case import CTX_A, KsefSimCase

#: KSeF's technical wording that must never reach a person
RAW = ("Nieprawidłow", "HTTP 400", "KSeF refused DELETE", "exceptionCode", "[code ")


@tagged("post_install", "-at_install")
class TestAuthStatusMessages(KsefSimCase):
    def refusal_of_import(self, token=None):
        token = token or self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        with self.assertRaises(UserError) as caught:
            self.import_token(token=token)
        message = str(caught.exception)
        for raw in RAW:
            self.assertNotIn(raw, message)
        self.assertFalse(
            self.env["ksef.token"].search([("reference_number", "=", token.split("|")[0])]),
            "a refused token is not stored",
        )
        return message

    def refusal_with_fault(self, detail):
        self.sim.faults.add("/auth/ksef-token", kind="auth_outcome", status=450, detail=detail)
        return self.refusal_of_import()

    def test_token_of_another_context(self):
        message = self.refusal_with_fault(
            "Token nie może być użyty w kontekście {contextIdentifier}"
        )
        self.assertIn("made in another context", message)
        self.assertIn("Import it under the company or branch it was made for", message)

    def test_bad_token_encoding_means_not_a_ksef_2_token(self):
        message = self.refusal_with_fault("Nieprawidłowe kodowanie tokena")
        self.assertIn("not a KSeF 2.0 token", message)
        self.assertIn("KSeF 1.0", message)
        self.assertIn("Generate a new token in KSeF 2.0", message)

    def test_bad_token_encryption(self):
        message = self.refusal_with_fault("Nieprawidłowe szyfrowanie tokena")
        self.assertIn("could not decrypt the token", message)
        self.assertIn("update the KSeF addon", message)

    def test_bad_token_time(self):
        message = self.refusal_with_fault("Nieprawidłowy czas tokena")
        self.assertIn("timestamp", message)
        self.assertIn("clock of the Odoo server", message)

    def test_bad_challenge(self):
        message = self.refusal_with_fault("Nieprawidłowe wyzwanie autoryzacyjne")
        self.assertIn("challenge", message)

    def test_revoked_token(self):
        token = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"], status="Revoked")
        message = self.refusal_of_import(token)
        self.assertIn("it was revoked. Archive it", message)

    def test_inactive_token(self):
        token = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"], status="Pending")
        message = self.refusal_of_import(token)
        self.assertIn("it is not active", message)

    def test_token_ksef_never_issued(self):
        token = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.reset()  # KSeF forgets it: the secret no longer matches anything
        message = self.refusal_of_import(token)
        self.assertIn("does not recognise this token", message)


@tagged("post_install", "-at_install")
class TestForbiddenMessages(KsefSimCase):
    def forbidden(self, reason):
        """A real 403 problem+json without ``timestamp`` (API 2.8) for ``reason``."""
        token = self.sim.create_token(CTX_A, NIP_A, ["CredentialsRead"])
        client = ksef_connection.make_client("test")
        session = client.authenticate_with_ksef_token(token, poll_interval=0.01)
        self.sim.faults.add("/tokens", method="GET", kind="forbidden", reason=reason)
        with self.assertRaises(KsefForbidden) as caught:
            client.list_tokens(session.access_token)
        self.assertEqual(caught.exception.reason_code, reason)
        message = self.env["ksef.messages"]._ksef_error_message(caught.exception)
        for raw in RAW:
            self.assertNotIn(raw, message)
        return message

    def test_each_reason_has_its_own_sentence(self):
        expected = {
            "ip-not-allowed": "IP address",
            "insufficient-resource-access": "belongs to another context",
            "auth-method-not-allowed": "Sign auth.xml or use a certificate",
            "security-service-blocked": "security service blocked",
            "context-type-not-allowed": "type of context",
            "something-new": "access denied",
        }
        seen = set()
        for reason, text in expected.items():
            message = self.forbidden(reason)
            self.assertIn(text, message)
            seen.add(message)
        self.assertEqual(len(seen), len(expected), "one sentence per reason")

    def test_missing_permissions_names_them(self):
        token = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        other = self.sim.create_token(CTX_A, NIP_A, ["InvoiceWrite"]).split("|")[0]
        client = ksef_connection.make_client("test")
        session = client.authenticate_with_ksef_token(token, poll_interval=0.01)
        with self.assertRaises(KsefForbidden) as caught:
            client.revoke_token(session.access_token, other)
        message = self.env["ksef.messages"]._ksef_error_message(caught.exception)
        self.assertIn("lacks the permission CredentialsManage", message)


@tagged("post_install", "-at_install")
class TestRevokeUnknownToken(KsefSimCase):
    def test_revoking_a_token_ksef_does_not_know_says_archive_it(self):
        self.import_token(
            token=self.sim.create_token(CTX_A, NIP_A, ["CredentialsManage", "InvoiceRead"])
        )
        token, _s = self.import_token(token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceWrite"]))
        with self.sim._lock:  # KSeF no longer knows the token (e.g. removed on its side)
            del self.sim.state.tokens[token.reference_number]
        env = self.as_user(self.admin_a)
        results = env["ksef.token.revocation"]._ksef_revoke(env["ksef.token"].browse(token.ids))
        message = results[token]
        self.assertIn("KSeF does not know this token", message)
        self.assertIn("Archive the token in Odoo", message)
        for raw in RAW:
            self.assertNotIn(raw, message)
        self.assertEqual(self.sim.calls["DELETE /tokens/{ref}"], 1)
