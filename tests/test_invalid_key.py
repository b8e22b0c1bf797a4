"""Issue 9, hole 5: an encryption key that is present but invalid is logged clearly by every
job, which skips what it cannot decrypt and goes on with the rest."""

import base64
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import config

from .common import NIP_A
from .ksef_sim_case import CTX_A, KsefSimCase
from .session_common import AUTH, KsefSessionCase

LOGGER = "odoo.addons.l10n_pl_ksef_token"
LOGGED = "encryption key is invalid"
GENERATE_INPUTS = ["signed_file", "auth_request", "token_sealed"]


@tagged("post_install", "-at_install")
class TestInvalidKeyJobs(KsefSessionCase):
    def setUp(self):
        super().setUp()
        self.first = self.sim_token(("InvoiceRead",), description="First token")
        self.second = self.sim_token(("InvoiceRead",), description="Second token")
        self.env.cr.execute("DELETE FROM ksef_session")  # no cached JWT: the secret is needed

    def invalid_key(self):
        return patch.dict(
            config.options, {"ksef_token_key": "not-a-key", "ksef_token_old_keys": False}
        )

    def run_job(self, job):
        """Run ``job`` with the invalid key; returns the log lines (ERROR and up)."""
        with self.invalid_key(), self.assertLogs(LOGGER, level="WARNING") as logs:
            job()
        return "\n".join(logs.output)

    def test_sync_logs_and_goes_on(self):
        self.sim.set_token_status(self.second.reference_number, "Revoked")
        output = self.run_job(self.env["ksef.token.sync"]._cron_ksef_sync)
        self.assertIn(f"KSeF token sync: the KSeF token {LOGGED}", output)
        # the run ended without a crash; nothing it could not authenticate was changed
        self.assertEqual(self.second.state, "active")
        self.assertIn(f"KSeF sync of {self.company_a.id} (test) failed", output)
        self.assertEqual(self.sim.calls[AUTH], 0)

    def test_session_service_tries_each_token_and_says_why(self):
        with self.invalid_key(), self.assertLogs(LOGGER, level="ERROR") as logs:
            with self.assertRaisesRegex(Exception, "is invalid") as caught:
                self.get_client("fetch", user=self.fetch_a)
        output = "\n".join(logs.output)
        # both tokens were tried (neither stopped the search), each skipped with the reason
        for token in self.first | self.second:
            self.assertIn(f"KSeF token {token.reference_number} skipped", output)
        self.assertIn("no KSeF token may be used", str(caught.exception))
        self.assertEqual(self.sim.calls[AUTH], 0)
        # with the valid key back, the session service works again
        self.assertTrue(self.get_client("fetch", user=self.fetch_a).access_token)

    def test_session_service_unreadable_cached_jwt(self):
        handle = self.get_client("fetch", user=self.fetch_a)
        self.assertTrue(handle.access_token)
        self.env.cr.execute("SELECT count(*) FROM ksef_session WHERE access_ciphertext IS NOT NULL")
        self.assertTrue(self.env.cr.fetchone()[0])
        with self.invalid_key(), self.assertLogs(LOGGER, level="WARNING") as logs:
            with self.assertRaisesRegex(Exception, "is invalid"):
                self.get_client("fetch", user=self.fetch_a)
        self.assertIn("unreadable; re-authenticating", "\n".join(logs.output))

    def test_fetch_logs_and_goes_on_with_the_next_company(self):
        self.company_a.ksef_job_user_id = self.fetch_a
        self.company_b.ksef_job_user_id = self.admin_b
        self.company_b.ksef_fetch_message = False
        output = self.run_job(self.env["ksef.invoice.metadata"]._cron_ksef_fetch_purchase_invoices)
        self.assertIn(f"KSeF purchase invoice fetch: the KSeF token {LOGGED}", output)
        self.assertIn("is invalid", self.company_a.ksef_fetch_message)
        # company B (no token) was still processed after company A failed
        self.assertIn(f"KSeF fetch for company {self.company_b.id} failed", output)
        self.assertTrue(self.company_b.ksef_fetch_message)

    def test_health_logs_and_still_warns(self):
        self.second.sudo().state = "failed"
        output = self.run_job_health()
        self.assertIn(f"KSeF token health check: the KSeF token {LOGGED}", output)
        self.assertIn(self.second, self.warned)

    def run_job_health(self):
        self.warned = None

        def job():
            self.warned = self.env["ksef.health"]._cron_ksef_health()

        return self.run_job(job)

    def test_recovery_logs_skips_and_reconciles_the_rest(self):
        Journal = self.env["ksef.pending.generation"]
        known = Journal._ksef_open("test", CTX_A, self.company_a.id, self.admin_a.id)
        Journal._ksef_update(known, state="created", reference_number=self.first.reference_number)
        # no reference: reconciling needs an administrator token, whose secret is unreadable
        unknown = Journal._ksef_open("test", CTX_A, self.company_a.id, self.admin_a.id)
        self.first.sudo().permission_ids |= self.env["ksef.permission"]._by_names(
            ["CredentialsManage"]
        )
        self.env.cr.execute(
            "UPDATE ksef_pending_generation SET create_date = now() - interval '1 day'"
        )
        output = self.run_job(Journal._cron_ksef_recover)
        self.assertIn(f"KSeF generation recovery: the KSeF token {LOGGED}", output)
        rows = {r.request_key: r for r in Journal.sudo().search([])}
        self.assertEqual(rows[known].state, "done")
        self.assertEqual(rows[unknown].state, "requested")
        self.assertEqual(rows[unknown].attempts, 1)
        self.assertEqual(rows[unknown].last_error, "KsefSecretUnreadable")


@tagged("post_install", "-at_install")
class TestWizardInputsWiped(KsefSimCase):
    """Issue 9, hole 2: a pasted token and a signed login to KSeF stay in the wizard row only
    for the step that needs them, whether the step succeeds or is refused."""

    def setUp(self):
        super().setUp()
        # the refusal's wipe is written on a cursor of its own: in tests, on this transaction
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)

    def stored(self, wizard, columns):
        self.env.flush_all()
        self.cr.execute(
            f"SELECT {', '.join(columns)} FROM {wizard._table} WHERE id = %s",  # noqa: S608
            [wizard.id],
        )
        return dict(zip(columns, self.cr.fetchone(), strict=True))

    def refused(self, method, pattern):
        # no assertRaises: its savepoint would roll back what the refusal wrote
        try:
            method()
        except UserError as e:
            self.assertRegex(str(e), pattern)
        else:
            self.fail("the step was not refused")

    def test_import_wipes_the_pasted_token(self):
        wizard = self.import_wizard(token_text=self.issued_token(CTX_A, ["InvoiceRead"]))
        self.assertTrue(self.stored(wizard, ["token_sealed"])["token_sealed"])
        wizard.action_import()
        self.assertEqual(self.stored(wizard, ["token_sealed"]), {"token_sealed": None})

    def test_refused_import_wipes_the_pasted_token(self):
        text = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        self.sim.set_token_status(text.split("|")[0], "Revoked")
        wizard = self.import_wizard(token_text=text)
        self.assertTrue(self.stored(wizard, ["token_sealed"])["token_sealed"])
        self.refused(wizard.action_import, ".")
        self.assertEqual(self.stored(wizard, ["token_sealed"]), {"token_sealed": None})

    def test_generate_wipes_the_signed_files(self):
        wizard = self.generate_wizard()
        wizard.action_prepare_request()
        self.sign(wizard)
        wizard.action_generate()
        self.assertEqual(self.stored(wizard, GENERATE_INPUTS), dict.fromkeys(GENERATE_INPUTS, None))

    def test_refused_generate_wipes_the_signed_files(self):
        wizard = self.generate_wizard()
        wizard.action_prepare_request()
        signed = self.sign(wizard)
        wizard.signed_file = base64.b64encode(
            signed.replace(b"certificateSubject", b"certificateFingerprint")
        )
        self.assertTrue(all(self.stored(wizard, ["signed_file", "auth_request"]).values()))
        self.refused(wizard.action_generate, "signature of the uploaded file is invalid")
        self.assertEqual(self.stored(wizard, GENERATE_INPUTS), dict.fromkeys(GENERATE_INPUTS, None))
        self.assertEqual(self.sim.tokens_in(CTX_A), [])

    def test_generate_refused_by_ksef_wipes_the_signed_files(self):
        wizard = self.generate_wizard()
        wizard.action_prepare_request()
        self.sign(wizard, key=self.other_key, cert=self.other_cert)  # no rights in CTX_A
        self.refused(wizard.action_generate, ".")
        self.assertEqual(self.stored(wizard, GENERATE_INPUTS), dict.fromkeys(GENERATE_INPUTS, None))
