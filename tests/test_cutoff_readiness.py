"""The "Prepare for the token cut-off" view: per job scope, a usable certificate, a tested
sign-in, and the credential the next run uses."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..models.ksef_access import TOKEN_CUTOFF_PARAM
from .session_common import CertificateCase


@tagged("post_install", "-at_install")
class TestCutoffReadiness(CertificateCase):
    def readiness(self, user=None):
        env = self.env(
            user=user or self.admin_a, context={"allowed_company_ids": self.company_a.ids}
        )
        action = env["ksef.cutoff.readiness"].action_open(
            env["res.company"].browse(self.company_a.id)
        )
        return env["ksef.cutoff.readiness"].browse(action["res_id"])

    def lines(self, readiness):
        return {line.scope: line for line in readiness.line_ids}

    def test_shows_what_is_missing_then_what_is_ready(self):
        token = self.sim_token(("InvoiceRead", "InvoiceWrite", "CredentialsManage"))
        readiness = self.readiness()
        lines = self.lines(readiness)
        self.assertEqual(set(lines), {"send", "fetch", "administer"})
        self.assertFalse(readiness.ready)
        self.assertFalse(lines["fetch"].certificate_id)
        self.assertEqual(lines["fetch"].next_credential, token.display_name)
        certificate = self.stored_certificate()
        readiness.action_refresh()
        lines = self.lines(readiness)
        self.assertEqual(lines["fetch"].certificate_id, certificate)
        self.assertFalse(lines["fetch"].tested, "not tested until it signed in")
        readiness.action_test_certificates()
        self.assertIn("signed in", readiness.test_message)
        self.assertTrue(all(readiness.line_ids.mapped("tested")))
        self.assertTrue(readiness.ready)
        # after the cut-off the next run uses the certificate
        self.env["ir.config_parameter"].sudo().set_param(
            TOKEN_CUTOFF_PARAM, str(fields.Date.today() - timedelta(days=1))
        )
        readiness.action_refresh()
        self.assertEqual(self.lines(readiness)["fetch"].next_credential, certificate.display_name)

    def test_use_certificates_first(self):
        self.sim_token(("InvoiceRead",))
        certificate = self.stored_certificate()
        readiness = self.readiness()
        readiness.action_certificates_first()
        self.assertEqual(self.company_a.ksef_auth_order, "certificates_first")
        self.assertEqual(self.lines(readiness)["fetch"].next_credential, certificate.display_name)

    def test_only_ksef_administrators(self):
        with self.assertRaises(AccessError):
            self.readiness(user=self.send_a)
