"""Several workers ask for a session at once, each in its own real database transaction.

The other session tests run in the registry's test mode, where every cursor shares the test
transaction. Here the registry is NOT in test mode: each thread opens a real cursor, as an Odoo
worker would, and the service's row lock is really contended. That needs committed data: the
test commits one token (on the main company, for the admin user, who is a KSeF administrator)
through its own cursor, and deletes it, its cached session and its messages afterwards.
"""

import threading
from datetime import timedelta
from unittest.mock import patch

import odoo
from odoo import api, fields
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from .common import NIP_A, start_http_simulator
from .session_common import AUTH, REFRESH

WORKERS = 8


@tagged("post_install", "-at_install")
class TestSessionConcurrency(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_http_simulator(cls)

    def setUp(self):
        super().setUp()
        self.assertFalse(self.registry.in_test_mode())
        self.sim.reset()
        self.sim.clock.reset()
        self.company_id = self.env.ref("base.main_company").id
        self.admin_id = self.env.ref("base.user_admin").id
        self.token_id = self.commit_token()
        self.addCleanup(self.purge, self.token_id)

    def commit_token(self):
        text = self.sim.create_token(NIP_A, NIP_A, ["InvoiceRead"], "Concurrency test token")
        with self.registry.cursor() as cr:
            env = api.Environment(cr, odoo.SUPERUSER_ID, {"tracking_disable": True})
            token = env["ksef.token"].create(
                {
                    "name": "Concurrency test token",
                    "company_id": self.company_id,
                    "context_type": "Nip",
                    "context_value": NIP_A,
                    "environment": "test",
                    "reference_number": text.split("|")[0],
                    "state": "active",
                    "permission_ids": [
                        (6, 0, env["ksef.permission"]._by_names(["InvoiceRead"]).ids)
                    ],
                    "assigned_company_ids": [(6, 0, [self.company_id])],
                }
            )
            token._ksef_store_secret(text)
            return token.id

    def purge(self, token_id):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ksef_session WHERE token_id = %s", [token_id])
            cr.execute(
                "DELETE FROM mail_message WHERE model = 'ksef.token' AND res_id = %s", [token_id]
            )
            cr.execute(
                "DELETE FROM mail_followers WHERE res_model = 'ksef.token' AND res_id = %s",
                [token_id],
            )
            cr.execute(
                "DELETE FROM mail_activity WHERE res_model = 'ksef.token' AND res_id = %s",
                [token_id],
            )
            cr.execute("DELETE FROM ksef_token WHERE id = %s", [token_id])

    def ask_all_at_once(self, workers=WORKERS):
        """``workers`` threads, each with its own cursor, ask for a session at the same time;
        returns the access tokens they got (errors are re-raised)."""
        barrier = threading.Barrier(workers)
        results, errors = [], []

        def worker():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, self.admin_id, {})
                    company = env["res.company"].browse(self.company_id)
                    barrier.wait(timeout=10)
                    with env["ksef.session.service"].get_client(company, "fetch") as session:
                        results.append((session.token.id, session.access_token))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        if errors:
            raise errors[0]
        self.assertEqual(len(results), workers)
        return results

    def session_counts(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT auth_count, refresh_count FROM ksef_session WHERE token_id = %s",
                [self.token_id],
            )
            return cr.fetchone()

    def test_one_authentication_then_one_refresh_for_many_workers(self):
        # a slow KSeF: the first worker holds the lock long enough for all others to queue
        self.sim.faults.add("/auth/ksef-token", kind="latency", delay=0.3)
        results = self.ask_all_at_once()
        self.assertEqual(self.sim.calls[AUTH], 1)
        self.assertEqual({token_id for token_id, _jwt in results}, {self.token_id})
        self.assertEqual(len({jwt for _token_id, jwt in results}), 1)
        self.assertEqual(self.session_counts(), (1, 0))

        # the access token nears its expiry: one worker refreshes, the others reuse it
        later = fields.Datetime.now() + timedelta(minutes=15)
        self.sim.advance(15 * 60)
        service_cls = type(self.env["ksef.session.service"])
        self.sim.faults.add("/auth/token/refresh", kind="latency", delay=0.3)
        with patch.object(service_cls, "_ksef_now", lambda _self: later):
            results = self.ask_all_at_once()
        self.assertEqual(self.sim.calls[AUTH], 1)
        self.assertEqual(self.sim.calls[REFRESH], 1)
        self.assertEqual(len({jwt for _token_id, jwt in results}), 1)
        self.assertEqual(self.session_counts(), (1, 1))

    def test_session_survives_the_callers_rollback(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, self.admin_id, {})
            company = env["res.company"].browse(self.company_id)
            env["ksef.session.service"].get_client(company, "fetch").close()
            cr.rollback()
        self.assertEqual(self.session_counts(), (1, 0))
        self.ask_all_at_once(workers=3)
        self.assertEqual(self.sim.calls[AUTH], 1)
