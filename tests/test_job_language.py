"""Texts Odoo writes on its own (a token refused while a job ran) are stored in the language
of whoever reads them later, the company's KSeF responsible, not in the language of the job
or of the user whose request happened to find out; the person who asked reads theirs."""

from odoo.tests import tagged

from .session_common import KsefSessionCase

REVOKED_EN = "KSeF refused the token: it was revoked."


@tagged("post_install", "-at_install")
class TestJobLanguage(KsefSessionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("pl_PL")
        cls.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef_token"], ["pl_PL"])

    def refuse_first_token(self):
        revoked = self.sim_token(("InvoiceRead",), description="First token")
        spare = self.sim_token(("InvoiceRead",), description="Spare token")
        self.sim.set_token_status(revoked.reference_number, "Revoked")
        with self.get_client() as session:
            self.assertEqual(session.token, spare)
        return revoked

    def test_refusal_stored_in_the_responsibles_language(self):
        polish = self.admin_a.copy({"login": "odp_pl", "lang": "pl_PL"})
        self.company_a.ksef_responsible_id = polish
        self.admin_a.lang = "en_US"  # the user whose job met the refusal reads English
        revoked = self.refuse_first_token()
        self.assertEqual(revoked.state, "revoked")
        self.assertNotIn(REVOKED_EN, revoked.status_details)
        self.assertIn("unieważniony", revoked.status_details)
        activity = self.env["mail.activity"].search(
            [("res_model", "=", "ksef.token"), ("res_id", "=", revoked.id)]
        )
        self.assertEqual(activity.user_id, polish)
        self.assertIn("unieważniony", activity.note)

    def test_refusal_stored_in_english_for_an_english_responsible(self):
        self.company_a.ksef_responsible_id = self.admin_a
        self.admin_a.lang = "en_US"
        revoked = self.refuse_first_token()
        self.assertIn(REVOKED_EN, revoked.status_details)
