from datetime import date

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import GROUP_ADMIN, NIP_A
from .ksef_sim_case import CTX_A, KsefSimCase

ENDS, STOPPED = "token_ends", "token_stopped"
NO_SEND, NO_FETCH = "company_no_send", "company_no_fetch"


@tagged("post_install", "-at_install")
class TestHealth(KsefSimCase):
    def warnings(self, record, key=None):
        domain = [
            ("res_model", "=", record._name),
            ("res_id", "=", record.id),
            ("activity_type_id", "=", self.env.ref("mail.mail_activity_data_warning").id),
        ]
        if key:
            domain.append(("ksef_health_key", "=", key))
        return self.env["mail.activity"].search(domain)

    def last_message(self, record):
        return (
            self.env["mail.message"]
            .search(
                [("model", "=", record._name), ("res_id", "=", record.id)], limit=1, order="id desc"
            )
            .body
        )

    def health(self, today=None):
        return self.env["ksef.health"]._cron_ksef_health(today=today)

    # -- a token that stopped working --------------------------------------------------------

    def test_token_revoked_in_ksef_gets_one_activity_for_one_person(self):
        self.generate_signed_outside(token_type="A", description="Admin token")
        token = self.generate_signed_outside(token_type="W")
        self.sim.set_token_status(token.reference_number, "Revoked")
        self.as_user(self.admin_a)["ksef.token"].action_ksef_sync()
        self.health(today=date(2026, 6, 1))
        self.health(today=date(2026, 6, 1))
        activity = self.warnings(token, STOPPED)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.admin_a)  # the lowest-id KSeF administrator
        self.assertIn("stopped working", activity.summary)
        self.assertIn("Revoked", activity.note)

        # archived (the replacement is in place): the warning goes, and does not come back
        token.action_archive()
        self.health(today=date(2026, 6, 1))
        self.assertFalse(self.warnings(token, STOPPED))

    def test_token_revoked_from_odoo_gets_no_warning(self):
        self.generate_signed_outside(token_type="A", description="Admin token")
        token = self.generate_signed_outside(token_type="W")
        env = self.as_user(self.admin_a)
        results = env["ksef.token.revocation"]._ksef_revoke(env["ksef.token"].browse(token.id))
        self.assertFalse(results[token])
        self.as_user(self.admin_a)["ksef.token"].action_ksef_sync()
        self.assertEqual(token.state, "revoked")
        self.health(today=date(2026, 6, 1))
        self.assertFalse(self.warnings(token))

    def test_refused_by_the_session_service_one_activity_not_one_per_admin(self):
        token, _s = self.import_token(
            token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"]), token_type="P"
        )
        Refusal = self.env["ksef.credential.refusal"]
        # a permission KSeF says is missing: the token still works, one warning says why
        Refusal._ksef_notify_admins(token.sudo(), "KSeF said 403.")
        Refusal._ksef_notify_admins(token.sudo(), "KSeF said 403.")
        self.assertEqual(len(self.warnings(token, "token_refused")), 1)
        self.assertIn("KSeF said 403.", self.warnings(token).note)
        # refused (450): it stopped working, one warning for one person however often
        token.sudo().state = "failed"
        Refusal._ksef_notify_admins(token.sudo(), "KSeF said 450")
        Refusal._ksef_notify_admins(token.sudo(), "KSeF said 450")
        self.assertEqual(len(self.warnings(token, STOPPED)), 1)
        self.assertEqual(self.warnings(token).user_id, self.admin_a)
        self.health(today=date(2026, 6, 1))
        self.assertEqual(len(self.warnings(token, STOPPED)), 1)

    # -- a token whose end approaches -------------------------------------------------------

    def test_legal_end_within_the_warning_window_names_date_and_reason(self):
        token, _s = self.import_token(token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"]))
        self.assertEqual(token.end_date, date(2026, 12, 31))
        self.health(today=date(2026, 11, 1))
        self.assertFalse(self.warnings(token, ENDS), "61 days before: outside the 30 days")
        self.health(today=date(2026, 12, 5))
        self.health(today=date(2026, 12, 6))
        activity = self.warnings(token, ENDS)
        self.assertEqual(len(activity), 1)
        self.assertIn("2026-12-31", activity.summary)
        self.assertIn("legal end", activity.note)
        self.assertEqual(activity.date_deadline, date(2026, 12, 31))

    def test_expiry_date_and_configurable_window(self):
        token, _s = self.import_token(token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"]))
        token.expiry_date = date(2026, 3, 1)
        self.assertEqual(token.end_date, date(2026, 3, 1))
        self.health(today=date(2026, 1, 1))
        self.assertFalse(self.warnings(token, ENDS))
        self.company_a.ksef_warning_days = 90
        self.health(today=date(2026, 1, 1))
        activity = self.warnings(token, ENDS)
        self.assertIn("2026-03-01", activity.summary)
        self.assertIn("expiry date", activity.note)
        self.assertNotIn("legal end", activity.note)
        # a revoked token does not "end soon" any more: the warning is closed
        token.sudo().write({"state": "revoked", "revoked_from_odoo": True})
        self.health(today=date(2026, 1, 1))
        self.assertFalse(self.warnings(token))

    def test_warning_window_must_be_sensible(self):
        with self.assertRaises(ValidationError):
            self.company_a.ksef_warning_days = -1

    # -- companies without a usable token ---------------------------------------------------

    def test_company_without_usable_token(self):
        without = self.env["ksef.health"]._ksef_companies_without_token
        self.assertIn(self.company_a, without("send"))
        self.import_token(
            token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceWrite"]), token_type="W"
        )
        self.assertNotIn(self.company_a, without("send"))
        self.assertIn(self.company_a, without("fetch"))
        self.assertIn(self.company_b, without("send"))

    def test_company_without_usable_token_one_activity_per_reason_on_the_company(self):
        self.health()
        self.health()
        warnings = self.warnings(self.company_a)
        # (the token cut-off is within 30 days of today: the certificate warning is its own)
        warnings = warnings.filtered(lambda a: a.ksef_health_key in (NO_FETCH, NO_SEND))
        self.assertEqual(sorted(warnings.mapped("ksef_health_key")), [NO_FETCH, NO_SEND])
        self.assertEqual(warnings.user_id, self.admin_a)
        self.assertTrue(all("Firma A" in s for s in warnings.mapped("summary")))
        # not on the company's (or branch's) contact
        partners = (self.company_a | self.branch_a1).partner_id
        self.assertFalse(
            self.env["mail.activity"].search(
                [("res_model", "=", "res.partner"), ("res_id", "in", partners.ids)]
            )
        )
        self.assertEqual(
            len(self.warnings(self.company_b, NO_SEND) | self.warnings(self.company_b, NO_FETCH)), 2
        )
        self.assertEqual(self.warnings(self.company_b).user_id, self.admin_b)
        self.assertTrue(self.admin_b.has_group(GROUP_ADMIN))

        # a usable sending token: the sending warning is closed, the fetching one stays (once)
        self.import_token(
            token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceWrite"]), token_type="W"
        )
        self.health()
        self.assertEqual(
            self.warnings(self.company_a)
            .filtered(lambda a: a.ksef_health_key in (NO_FETCH, NO_SEND))
            .mapped("ksef_health_key"),
            [NO_FETCH],
        )
        self.assertIn("Resolved", self.last_message(self.company_a))
        self.assertEqual(
            len(self.warnings(self.company_b, NO_SEND) | self.warnings(self.company_b, NO_FETCH)), 2
        )

    # -- the responsible and their language -------------------------------------------------

    def test_responsible_setting_and_branch_fallback(self):
        self.company_a.ksef_responsible_id = self.sysadmin_a
        self.assertEqual(self.branch_a1._ksef_responsible(), self.sysadmin_a)
        self.health()
        self.assertEqual(self.warnings(self.company_a).user_id, self.sysadmin_a)
        # changing the responsible moves the open warning, it does not add one
        self.company_a.ksef_responsible_id = self.admin_a
        self.health()
        self.assertEqual(
            len(self.warnings(self.company_a, NO_SEND) | self.warnings(self.company_a, NO_FETCH)),
            2,
        )
        self.assertEqual(self.warnings(self.company_a).user_id, self.admin_a)

    def test_settings_set_the_responsible_and_window(self):
        settings = self.env(
            user=self.sysadmin_a, context={"allowed_company_ids": [self.company_a.id]}
        )["res.config.settings"].create({})
        self.assertEqual(settings.ksef_warning_days, 30)
        settings.write({"ksef_responsible_id": self.admin_a.id, "ksef_warning_days": 45})
        settings.execute()
        self.assertEqual(self.company_a.ksef_responsible_id, self.admin_a)
        self.assertEqual(self.company_a.ksef_warning_days, 45)

    def test_texts_are_written_in_the_responsible_users_language(self):
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef_token"], ["pl_PL"])
        self.admin_a.lang = "pl_PL"
        self.assertEqual(self.company_a._ksef_lang(), "pl_PL")
        self.assertEqual(self.company_b._ksef_lang(), self.admin_b.lang or "en_US")
        self.generate_signed_outside(token_type="A", description="Admin token")
        token = self.generate_signed_outside(token_type="W")
        self.sim.set_token_status(token.reference_number, "Revoked")
        self.as_user(self.admin_a)["ksef.token"].action_ksef_sync()
        self.health(today=date(2026, 6, 1))
        activity = self.warnings(token, STOPPED)
        # the state's label comes from the module's Polish translation, not the job's English
        self.assertIn("Unieważniony", activity.note)
        self.assertNotIn("Revoked", activity.note)
        # no installed language for the user: the company's contact language
        self.admin_a.lang = False
        self.company_a.partner_id.lang = "pl_PL"
        self.assertEqual(self.company_a._ksef_lang(), "pl_PL")
