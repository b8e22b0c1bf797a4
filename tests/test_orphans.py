"""Fault injection at every step of a generation; then count orphans (tokens alive in KSeF
that Odoo does not store): always zero once the recovery ran."""

from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged

from .ksef_sim_case import KsefSimCase


@tagged("post_install", "-at_install")
class TestOrphans(KsefSimCase):
    def recover(self):
        return self.env["ksef.pending.generation"]._ksef_recover(min_age=None)

    def assert_no_orphan_after_recovery(self):
        self.recover()
        self.assertEqual(self.orphans(), [])
        self.assertFalse([r for r in self.journal_rows() if r[1] in ("requested", "created")])

    def test_answer_lost(self):
        self.sim.faults.add("/tokens", method="POST", kind="drop_after")
        with self.assertRaisesRegex(UserError, "revoked"):
            self.generate_signed_outside()
        self.assertEqual(len(self.sim.tokens_in("5265877635")), 1)
        self.assertEqual(self.orphans(), [])
        self.assertEqual([r[1] for r in self.journal_rows()], ["revoked"])

    def test_ksef_error_before_acting(self):
        self.sim.faults.add("/tokens", method="POST", kind="error5xx")
        with self.assertRaises(UserError):
            self.generate_signed_outside()
        self.assertEqual(self.sim.tokens_in("5265877635"), [])
        self.assertEqual([r[1] for r in self.journal_rows()], ["failed"])

    def test_status_polling_fails(self):
        self.sim.faults.add("/tokens/*", method="GET", kind="error5xx", times=None)
        with self.assertRaisesRegex(UserError, "revoked"):
            self.generate_signed_outside()
        self.assertEqual(self.orphans(), [])
        self.assert_no_orphan_after_recovery()

    def test_database_error_while_storing(self):
        Token = type(self.env["ksef.token"])
        with patch.object(Token, "_ksef_store_secret", side_effect=ValueError("db down")):
            with self.assertRaises(ValueError):
                self.generate_signed_outside()
        self.assertEqual(self.env["ksef.token"].search_count([]), 0)
        self.assertEqual(self.orphans(), [])

    def test_transaction_rolled_back_after_success(self):
        with self.assertRaises(RuntimeError):
            with self.env.cr.savepoint():
                self.generate_signed_outside()
                raise RuntimeError("the request failed later")
        self.assertEqual(len(self.orphans()), 1)
        self.assertEqual([r[1] for r in self.journal_rows()], ["created"])
        self.assertTrue(self.journal_rows()[0][3], "the secret is kept (encrypted) to self-revoke")
        self.assert_no_orphan_after_recovery()
        self.assertEqual([r[1] for r in self.journal_rows()], ["revoked"])

    def generate_killed_before_journaling(self):
        """Generate while the worker dies right after KSeF answered, before the journal
        records the reference number."""
        Journal = type(self.env["ksef.pending.generation"])
        original = Journal._ksef_update

        def killed(self_, key, **values):
            if values.get("state") == "created":
                raise RuntimeError("worker killed")
            return original(self_, key, **values)

        with patch.object(Journal, "_ksef_update", killed):
            with self.assertRaises(RuntimeError):
                self.generate_signed_outside()

    def test_worker_killed_before_the_reference_was_journaled(self):
        self.generate_signed_outside(token_type="A", description="Admin token")
        self.generate_killed_before_journaling()
        self.assertEqual(len(self.orphans()), 1)
        self.assert_no_orphan_after_recovery()

    def test_revocation_fails_too_then_recovery(self):
        self.sim.faults.add("/tokens/*", method="GET", kind="error5xx", times=None)
        # every attempt (the session factory retries 5xx) of the revocation fails
        self.sim.faults.add("/tokens/*", method="DELETE", kind="error5xx", times=None)
        with self.assertRaises(UserError):
            self.generate_signed_outside()
        self.assertEqual(len(self.orphans()), 1)
        self.sim.faults.clear()
        self.assert_no_orphan_after_recovery()

    def test_sync_revokes_orphans_instead_of_listing_them(self):
        self.generate_signed_outside(token_type="A", description="Admin token")
        self.generate_killed_before_journaling()
        self.as_user(self.admin_a)["ksef.token"].action_ksef_sync()
        self.assertEqual(self.orphans(), [])
        self.assertEqual(self.env["ksef.token"].search_count([("origin", "=", "found")]), 0)

    def test_successful_generation_closes_its_row_after_commit(self):
        self.generate_signed_outside()
        self.assertEqual([r[1] for r in self.journal_rows()], ["created"])
        self.env.cr.postcommit.run()
        self.assertEqual([r[1] for r in self.journal_rows()], ["done"])
        self.assertFalse(self.journal_rows()[0][3], "no secret left in the journal")
