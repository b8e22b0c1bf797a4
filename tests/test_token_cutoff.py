"""The token cut-off is data, not code: one setting, "KSeF tokens usable until"."""

from datetime import date, timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..models.ksef_access import TOKEN_CUTOFF_PARAM
from ..models.ksef_exceptions import KsefNoUsableToken
from .common import GROUP_ADMIN
from .session_common import AUTH, KsefSessionCase

ENDS = "token_ends"


@tagged("post_install", "-at_install")
class TestTokenCutoff(KsefSessionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sysadmin_a = new_test_user(
            cls.env,
            login="cut_sys",
            groups=f"base.group_system,{GROUP_ADMIN}",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )

    def set_cutoff(self, value):
        self.env["ir.config_parameter"].sudo().set_param(TOKEN_CUTOFF_PARAM, str(value))

    def test_default_is_the_regulation_in_force(self):
        self.assertEqual(
            self.env["ir.config_parameter"].sudo().get_param(TOKEN_CUTOFF_PARAM), "2026-12-31"
        )
        self.assertEqual(self.env["ksef.access"]._ksef_token_cutoff(), date(2026, 12, 31))
        token = self.sim_token(("InvoiceRead",))
        self.assertEqual(token.end_date, date(2026, 12, 31))

    def test_an_administrator_changes_it_in_settings(self):
        settings = self.env["res.config.settings"].with_user(self.sysadmin_a).create({})
        self.assertEqual(settings.ksef_token_cutoff, date(2026, 12, 31))
        settings.ksef_token_cutoff = date(2027, 11, 30)
        settings.execute()
        self.assertEqual(self.env["ksef.access"]._ksef_token_cutoff(), date(2027, 11, 30))
        token = self.sim_token(("InvoiceRead",))
        self.assertEqual(token.end_date, date(2027, 11, 30))
        token.expiry_date = date(2027, 3, 1)
        self.assertEqual(token.end_date, date(2027, 3, 1), "a token's own end comes first")

    def test_only_system_administrators_change_it(self):
        with self.assertRaises(AccessError):
            self.env["res.config.settings"].with_user(self.admin_a).create(
                {"ksef_token_cutoff": "2030-01-01"}
            ).execute()
        self.assertEqual(self.env["ksef.access"]._ksef_token_cutoff(), date(2026, 12, 31))

    def test_a_bad_stored_value_falls_back_to_the_regulation(self):
        self.set_cutoff("not a date")
        self.assertEqual(self.env["ksef.access"]._ksef_token_cutoff(), date(2026, 12, 31))

    def test_after_the_cutoff_no_job_uses_a_token_and_says_why(self):
        self.sim_token(("InvoiceRead",))
        with self.get_client("fetch", user=self.fetch_a):
            pass
        self.set_cutoff(fields.Date.today() - timedelta(days=1))
        before = self.sim.calls[AUTH]
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client("fetch", user=self.fetch_a)
        self.assertIn("usable until", str(caught.exception))
        self.assertIn(str(fields.Date.today() - timedelta(days=1)), str(caught.exception))
        self.assertEqual(self.sim.calls[AUTH], before, "not even a cached session is used")
        self.set_cutoff(fields.Date.today())
        with self.get_client("fetch", user=self.fetch_a):
            pass  # the last day itself still works

    def test_health_warns_ahead_of_the_cutoff_it_reads(self):
        token = self.sim_token(("InvoiceRead",))
        self.set_cutoff(date(2027, 11, 30))
        health = self.env["ksef.health"]
        health._cron_ksef_health(today=date(2026, 12, 20))
        warning = token.activity_ids.filtered(lambda a: a.ksef_health_key == ENDS)
        self.assertFalse(warning, "2026-12-31 no longer ends the token")
        health._cron_ksef_health(today=date(2027, 11, 10))
        warning = token.activity_ids.filtered(lambda a: a.ksef_health_key == ENDS)
        self.assertEqual(len(warning), 1)
        self.assertIn("2027-11-30", warning.summary)
        self.assertEqual(warning.date_deadline, date(2027, 11, 30))
