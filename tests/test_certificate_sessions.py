"""Jobs keep working when tokens end: the session factory signs in with a KSeF certificate,
with the same cache, and checks what the certificate's identity may do in the context."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..ksef import csr
from ..ksef.models import Identifier
from ..models.ksef_access import TOKEN_CUTOFF_PARAM
from ..models.ksef_exceptions import KsefNoUsableToken
from .common import NIP_A
from .session_common import AUTH, CertificateCase

XADES = "POST /auth/xades-signature"
PESEL = "90010112343"


@tagged("post_install", "-at_install")
class TestCertificateSessions(CertificateCase):
    def set_cutoff(self, value):
        self.env["ir.config_parameter"].sudo().set_param(TOKEN_CUTOFF_PARAM, str(value))

    def test_after_the_tokens_are_revoked_the_job_signs_in_with_the_certificate(self):
        token = self.sim_token(("InvoiceRead",))
        certificate = self.stored_certificate()
        self.sim.set_token_status(token.reference_number, "Revoked")
        with self.get_client("fetch", user=self.fetch_a) as session:
            self.assertEqual(session.token, certificate)
            self.assertIn("InvoiceRead", session.granted)
        self.assertEqual(token.state, "revoked", "the refused token was marked on the way")
        self.assertEqual(self.sim.calls[XADES], 1)
        with self.get_client("fetch", user=self.fetch_a) as session:
            self.assertEqual(session.token, certificate)
        self.assertEqual(self.sim.calls[XADES], 1, "the certificate's session is cached")

    def test_after_the_cutoff_the_next_run_uses_the_certificate_without_a_failed_run(self):
        self.sim_token(("InvoiceRead",))
        certificate = self.stored_certificate()
        with self.get_client("fetch", user=self.fetch_a) as session:
            self.assertEqual(session.token._name, "ksef.token", "tokens first while legal")
        self.set_cutoff(fields.Date.today() - timedelta(days=1))
        before = self.sim.calls[AUTH]
        with self.get_client("fetch", user=self.fetch_a) as session:
            self.assertEqual(session.token, certificate)
        self.assertEqual(self.sim.calls[AUTH], before, "no token is tried after the cut-off")

    def test_the_company_chooses_the_order(self):
        self.sim_token(("InvoiceRead",))
        certificate = self.stored_certificate()
        self.company_a.ksef_auth_order = "certificates_first"
        with self.get_client("fetch", user=self.fetch_a) as session:
            self.assertEqual(session.token, certificate)
        self.company_a.ksef_auth_order = "certificates_only"
        certificate.sudo().state = "revoked"
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client("fetch", user=self.fetch_a)
        self.assertIn("not active", str(caught.exception))

    def test_scope_is_what_the_identity_holds_in_the_context(self):
        self.stored_certificate(subject=PESEL)  # a person with no grant in Firma A's context
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client("fetch", user=self.fetch_a)
        self.assertIn("holds no permission in this KSeF context", str(caught.exception))
        self.sim.grant(NIP_A, Identifier("Pesel", PESEL), ["InvoiceRead"])
        with self.get_client("fetch", user=self.fetch_a) as session:
            self.assertEqual(session.granted, ("InvoiceRead",))
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client("send", user=self.send_a)
        self.assertIn("holds no InvoiceWrite permission", str(caught.exception))

    def test_odoo_groups_still_apply_to_the_acting_user(self):
        self.stored_certificate()
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client("send", user=self.fetch_a)
        self.assertIn("is not in the group", str(caught.exception))

    def test_a_revoked_certificate_is_marked_and_skipped(self):
        older = self.stored_certificate()
        newer = self.stored_certificate()  # tried first
        self.sim.set_certificate_status(newer.serial_number, "Revoked")
        with self.get_client("fetch", user=self.fetch_a) as session:
            self.assertEqual(session.token, older)
        self.assertEqual(newer.state, "revoked")
        self.assertIn("revoked", newer.message_ids[0].body)

    def test_offline_certificates_never_sign_in(self):
        self.stored_certificate(certificate_type="Offline")
        with self.assertRaises(KsefNoUsableToken):
            self.get_client("fetch", user=self.fetch_a)
        self.assertEqual(self.sim.calls[XADES], 0)


@tagged("post_install", "-at_install")
class TestCertificateHealth(CertificateCase):
    def warnings(self, record, key):
        return record.activity_ids.filtered(lambda a: a.ksef_health_key == key)

    def test_a_company_without_a_certificate_is_warned_before_the_cutoff(self):
        health = self.env["ksef.health"]
        self.env["ir.config_parameter"].sudo().set_param(TOKEN_CUTOFF_PARAM, "2026-12-31")
        health._cron_ksef_health(today=fields.Date.to_date("2026-11-01"))
        self.assertFalse(self.warnings(self.company_a, "company_no_certificate"))
        health._cron_ksef_health(today=fields.Date.to_date("2026-12-10"))
        warning = self.warnings(self.company_a, "company_no_certificate")
        self.assertEqual(len(warning), 1)
        self.assertIn("2026-12-31", warning.summary)
        self.stored_certificate()
        health._cron_ksef_health(today=fields.Date.to_date("2026-12-11"))
        self.assertFalse(self.warnings(self.company_a, "company_no_certificate"))

    def test_a_certificate_whose_end_approaches_is_warned_once(self):
        certificate = self.stored_certificate()
        end = certificate.valid_to.date()
        health = self.env["ksef.health"]
        health._cron_ksef_health(today=end - timedelta(days=60))
        self.assertFalse(self.warnings(certificate, "certificate_ends"))
        health._cron_ksef_health(today=end - timedelta(days=10))
        health._cron_ksef_health(today=end - timedelta(days=9))
        warning = self.warnings(certificate, "certificate_ends")
        self.assertEqual(len(warning), 1)
        self.assertEqual(warning.date_deadline, end)


@tagged("post_install", "-at_install")
class TestQrCodeSigning(CertificateCase):
    def test_other_modules_sign_qr_code_ii_with_the_offline_certificate_only(self):
        Certificate = self.env["ksef.certificate"]
        self.assertFalse(Certificate.ksef_offline_certificate(self.company_a))
        authentication = self.stored_certificate()
        offline = self.stored_certificate(certificate_type="Offline")
        self.assertEqual(Certificate.ksef_offline_certificate(self.branch_a1), offline)
        text = f"qr-test.ksef.mf.gov.pl/certificate/Nip/{NIP_A}/{NIP_A}/{offline.serial_number}/abc"
        signature = offline.ksef_sign_qr_code_ii(text)
        self.assertTrue(csr.verify_qr_code_ii(offline._ksef_certificate(), text, signature))
        with self.assertRaisesRegex(UserError, "Offline certificate"):
            authentication.ksef_sign_qr_code_ii(text)


@tagged("post_install", "-at_install")
class TestCertificateWithoutContext(CertificateCase):
    def test_a_company_without_nip_still_uses_its_tokens(self):
        token = self.sim_token(("InvoiceRead",))
        self.stored_certificate()
        self.company_a.vat = False  # no NIP: no context a certificate could sign in to
        with self.get_client("fetch", user=self.fetch_a) as session:
            self.assertEqual(session.token, token)
