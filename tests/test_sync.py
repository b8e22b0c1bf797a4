import math

from odoo.tests import tagged

from .common import NIP_A
from .ksef_sim_case import CTX_A, KsefSimCase

CRON = "l10n_pl_ksef_token.ir_cron_ksef_token_sync"


@tagged("post_install", "-at_install")
class TestSync(KsefSimCase):
    def sync(self, user=None):
        return self.as_user(user or self.admin_a)["ksef.token"].action_ksef_sync()

    def test_updates_and_finds_foreign_tokens(self):
        admin = self.generate_signed_outside(token_type="A", description="Admin token")
        sender = self.generate_signed_outside(token_type="W")
        self.sim.set_token_status(sender.reference_number, "Revoked")
        foreign = self.sim.create_token(
            CTX_A, NIP_A, ["InvoiceRead"], description="Aplikacja mobilna KSeF"
        )
        action = self.sync()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(sender.state, "revoked")
        self.assertFalse(sender.has_secret)
        self.assertEqual(admin.state, "active")
        self.assertTrue(admin.last_sync_date)
        found = self.env["ksef.token"].search([("reference_number", "=", foreign.split("|")[0])])
        self.assertEqual(found.origin, "found")
        self.assertEqual(found.state, "active")
        self.assertFalse(found.has_secret)
        self.assertEqual(found.permission_ids.mapped("name"), ["InvoiceRead"])
        # a second sync does not list it twice
        self.sync()
        self.assertEqual(
            self.env["ksef.token"].search_count(
                [("reference_number", "=", found.reference_number)]
            ),
            1,
        )

    def test_pages_of_100(self):
        self.generate_signed_outside(token_type="A", description="Admin token")
        for i in range(250):
            self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"], description=f"Foreign {i:03d}")
        self.sim.calls.clear()
        self.sync()
        self.assertEqual(self.sim.calls["GET /tokens"], math.ceil(251 / 100))
        self.assertEqual(self.env["ksef.token"].search_count([("origin", "=", "found")]), 250)

    def test_429_reschedules_instead_of_blocking(self):
        self.generate_signed_outside(token_type="A", description="Admin token")
        for i in range(150):
            self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"], description=f"Foreign {i:03d}")
        self.sim.config.rate_limits = {"other": (100, 1, 100)}
        cron = self.env.ref(CRON)
        before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        action = self.sync()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), before + 1
        )
        # the cron itself never raises on a 429
        self.env["ksef.token.sync"]._cron_ksef_sync()
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), before + 2
        )

    def test_without_administrator_token_each_token_reads_itself(self):
        token, _s = self.import_token(token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"]))
        self.sim.set_token_status(token.reference_number, "Revoked")
        self.sync()
        # a revoked token can no longer authenticate: it is marked failed or revoked
        self.assertIn(token.state, ("revoked", "failed"))

    def test_only_admins_sync(self):
        from odoo.exceptions import AccessError

        with self.assertRaises(AccessError):
            self.sync(user=self.send_a)
