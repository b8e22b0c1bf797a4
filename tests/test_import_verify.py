"""Import verifies a token with KSeF (over HTTP against the simulator) before it is usable."""

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..ksef import identifiers as ksef_ids
from ..ksef.simulator.testing import RawKsef
from ..models.ksef_exceptions import KsefNoUsableToken
from .common import NIP_A, token_string
from .ksef_sim_case import CTX_A, KsefSimCase

AUTH = "POST /auth/ksef-token"


@tagged("post_install", "-at_install")
class TestImportVerify(KsefSimCase):
    def tokens(self, reference=None):
        domain = [("reference_number", "=", reference)] if reference else []
        return self.env["ksef.token"].sudo().with_context(active_test=False).search(domain)

    def fetch_client(self, user=None):
        user = user or self.admin_a
        env = self.as_user(user)
        company = env["res.company"].browse(self.company_a.id)
        return env["ksef.session.service"].get_client(company, "fetch")

    def test_verified_import_stores_what_ksef_says(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"], description="Z aplikacji")
        # the user chose W in the wizard: KSeF knows better
        token, _s = self.import_token(
            token=text,
            token_type="W",
            permission_ids=[(6, 0, self.env["ksef.permission"]._by_names(["InvoiceWrite"]).ids)],
        )
        self.assertEqual(token.state, "active")
        self.assertEqual(token.permission_ids.mapped("name"), ["InvoiceRead"])
        self.assertEqual(token.token_type, "P")
        self.assertEqual(token.author_identifier, NIP_A)
        self.assertTrue(token.date_created)
        self.assertTrue(token.has_secret)
        self.assertEqual(self.sim.calls["GET /tokens/{ref}"], 1)
        self.assertIn("KSeF confirmed the token is active", token.message_ids[:1].body)

    def test_never_issued_token_is_refused_and_nothing_stored(self):
        text = token_string(CTX_A)
        with self.assertRaises(UserError) as caught:
            self.import_token(token=text)
        self.assertIn(
            "KSeF (environment Test) refused this token, so it was not imported",
            str(caught.exception),
        )
        self.assertFalse(self.tokens(text.split("|")[0]))

    def test_revoked_token_is_refused(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.set_token_status(text.split("|")[0], "Revoked")
        with self.assertRaises(UserError):
            self.import_token(token=text)
        self.assertFalse(self.tokens(text.split("|")[0]))

    def test_wrong_secret_of_a_real_reference_is_refused(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        reference, context, secret = text.split("|")
        forged = f"{reference}|{context}|{'0' * 64 if secret != '0' * 64 else '1' * 64}"
        with self.assertRaises(UserError):
            self.import_token(token=forged)
        self.assertFalse(self.tokens(reference))

    def assert_unverified_then_sync_verifies(self, text):
        token, _s = self.import_token(token=text)
        self.assertEqual(token.state, "unverified")
        self.assertTrue(token.has_secret)
        self.assertTrue(token.status_details)
        # no job uses it, and the refusal says why
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.fetch_client()
        self.assertIn("not verified with KSeF yet", str(caught.exception))
        self.assertEqual(
            self.env["ksef.token"].search_count(
                [("id", "=", token.id), ("state", "=", "unverified")]
            ),
            1,
            "the 'Not Verified Yet' filter finds it",
        )
        # KSeF is back: the next sync verifies it with its own secret
        self.sim.faults.clear()
        self.sim.config.rate_limits = False
        self.as_user(self.admin_a)["ksef.token"].action_ksef_sync()
        self.assertEqual(token.state, "active")
        self.assertEqual(token.permission_ids.mapped("name"), ["InvoiceRead"])
        with self.fetch_client() as session:
            self.assertEqual(session.token, token)
        return token

    def test_ksef_down_stores_unverified_then_sync_verifies(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.faults.add("/auth/*", kind="drop_before", times=None)
        self.assert_unverified_then_sync_verifies(text)

    def test_ksef_5xx_stores_unverified(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.faults.add("/auth/*", kind="error5xx", status=503, times=None)
        self.assert_unverified_then_sync_verifies(text)

    def test_429_stores_unverified_then_sync_verifies(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.config.rate_limits = {"public": (1, 1, 1)}
        RawKsef(base_url=self.server.base_url).challenge()  # the import's challenge gets a 429
        self.assert_unverified_then_sync_verifies(text)

    def test_sync_fails_an_unverified_token_ksef_refuses(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.faults.add("/auth/*", kind="drop_before", times=None)
        token, _s = self.import_token(token=text)
        self.assertEqual(token.state, "unverified")
        self.sim.faults.clear()
        self.sim.set_token_status(token.reference_number, "Revoked")
        self.as_user(self.admin_a)["ksef.token"].action_ksef_sync()
        self.assertEqual(token.state, "failed")
        self.assertFalse(token.has_secret)
        self.assertIn("revoked", token.status_details)

    def test_connectivity_run_verifies_unverified(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.faults.add("/auth/*", kind="drop_before", times=None)
        token, _s = self.import_token(token=text)
        self.assertEqual(token.state, "unverified")
        self.sim.faults.clear()
        self.company_a.ksef_job_user_id = self.admin_a
        self.env["ksef.connectivity"]._cron_ksef_check_connectivity()
        self.assertEqual(token.state, "active")
        self.assertTrue(token.connectivity_ok)

    def test_same_token_under_a_second_environment_is_refused(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        token, _s = self.import_token(token=text, environment="test")
        with self.assertRaises(UserError) as caught:
            self.import_token(token=text, environment="demo", description="Second environment")
        self.assertIn("already registered in Odoo for the KSeF environment", str(caught.exception))
        self.assertEqual(len(self.tokens(token.reference_number)), 1)

    def test_branch_token_verified_in_its_context(self):
        context = ksef_ids.ContextIdentifier.internal_id(self.branch_a1.ksef_internal_id)
        text = self.sim.create_token(context, NIP_A, ["InvoiceWrite"])
        token, _s = self.import_token(token=text, scope="branch", branch_id=self.branch_a1.id)
        self.assertEqual(token.state, "active")
        self.assertEqual(token.token_type, "W")

    def test_sync_writes_in_the_responsibles_language(self):
        """The sync, run by an English-speaking administrator, posts what it found on the
        token in the language of the company's KSeF responsible, who reads it later."""
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef_token"], ["pl_PL"])
        self.company_a.ksef_responsible_id = self.admin_a.copy({"login": "odp_pl", "lang": "pl_PL"})
        self.admin_a.lang = "en_US"
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.faults.add("/auth/*", kind="drop_before", times=None)
        token, _s = self.import_token(token=text)
        self.assertEqual(token.state, "unverified")
        self.sim.faults.clear()
        self.as_user(self.admin_a)["ksef.token"].action_ksef_sync()
        self.assertEqual(token.state, "active")
        bodies = " ".join(token.message_ids.mapped("body"))
        self.assertIn("KSeF zweryfikował zaimportowany token", bodies)
        self.assertNotIn("KSeF verified the imported token", bodies)
