from datetime import date

from odoo.tests import tagged

from .common import GROUP_ADMIN, NIP_A
from .ksef_sim_case import CTX_A, KsefSimCase


@tagged("post_install", "-at_install")
class TestHealth(KsefSimCase):
    def test_token_that_stopped_working_gets_one_activity(self):
        self.generate_signed_outside(token_type="A", description="Admin token")
        token = self.generate_signed_outside(token_type="W")
        self.sim.set_token_status(token.reference_number, "Revoked")
        self.as_user(self.admin_a)["ksef.token"].action_ksef_sync()
        self.env["ksef.token"]._cron_ksef_health()
        self.env["ksef.token"]._cron_ksef_health()
        activities = token.activity_ids.filtered(lambda a: "stopped working" in a.summary)
        self.assertEqual(len(activities), 1)
        self.assertIn(activities.user_id, self.admin_a | self.sysadmin_a)

    def test_legal_end_and_expiry(self):
        token, _s = self.import_token(token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"]))
        self.assertEqual(token.end_date, date(2026, 12, 31))
        self.env["ksef.token"]._cron_ksef_health(today=date(2026, 11, 1))
        self.assertFalse(token.activity_ids)
        self.env["ksef.token"]._cron_ksef_health(today=date(2026, 12, 5))
        self.assertEqual(token.activity_ids.summary, "KSeF token ends soon")
        token.expiry_date = date(2026, 3, 1)
        self.assertEqual(token.end_date, date(2026, 3, 1))

    def test_company_without_usable_token(self):
        Token = self.env["ksef.token"]
        self.assertIn(self.company_a, Token._ksef_companies_without_token("send"))
        self.import_token(
            token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceWrite"]), token_type="W"
        )
        self.assertNotIn(self.company_a, Token._ksef_companies_without_token("send"))
        self.assertIn(self.company_a, Token._ksef_companies_without_token("fetch"))
        self.assertIn(self.company_b, Token._ksef_companies_without_token("send"))

    def company_warnings(self, company):
        return self.env["mail.activity"].search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", company.partner_id.id),
                ("activity_type_id", "=", self.env.ref("mail.mail_activity_data_warning").id),
            ]
        )

    def test_company_without_usable_token_gets_one_activity_per_scope(self):
        Token = self.env["ksef.token"]
        Token._cron_ksef_health()
        Token._cron_ksef_health()
        warnings = self.company_warnings(self.company_a)
        self.assertEqual(
            sorted(warnings.mapped("summary")),
            ["No KSeF token for fetching invoices", "No KSeF token for sending invoices"],
        )
        self.assertIn(warnings.user_id, self.admin_a | self.sysadmin_a)
        self.assertEqual(len(self.company_warnings(self.company_b)), 2)
        self.assertTrue(self.company_warnings(self.company_b).user_id.has_group(GROUP_ADMIN))

        # a usable sending token: the sending warning goes, the fetching one stays (once)
        self.import_token(
            token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceWrite"]), token_type="W"
        )
        Token._cron_ksef_health()
        self.assertEqual(
            self.company_warnings(self.company_a).mapped("summary"),
            ["No KSeF token for fetching invoices"],
        )
        self.assertEqual(len(self.company_warnings(self.company_b)), 2)
