"""KSeF certificates from Odoo, over HTTP against the simulator: enrolment both ways, both
types, company and operator; limits; lost answers; sync; revocation; the private key."""

import base64
from unittest.mock import patch

from cryptography.hazmat.primitives import serialization

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..ksef import csr, testing_certs
from ..ksef.models import EnrollmentData
from .common import NIP_A, start_http_sandbox
from .ksef_sim_case import KsefSimCase

ENROL = "POST /certificates/enrollments"


@tagged("post_install", "-at_install")
class TestCertificateEnrolment(KsefSimCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seal_key, cls.seal_cert = testing_certs.generate_test_certificate(NIP_A, kind="seal")

    def request_wizard(self, user=None, **values):
        user = user or self.admin_a
        vals = {
            "holder": "company",
            "company_id": self.company_a.id,
            "environment": "test",
            "certificate_type": "Authentication",
            "description": "Odoo faktury",
        }
        vals.update(values)
        return self.as_user(user)["ksef.certificate.request"].create(vals)

    def request_signed_outside(self, user=None, key=None, cert=None, **values):
        wizard = self.request_wizard(user=user, **values)
        wizard.action_prepare_request()
        self.sign(wizard, key or self.seal_key, cert or self.seal_cert)
        wizard.action_check_limits()
        action = wizard.action_request()
        return self.env["ksef.certificate"].browse(action["res_id"]), wizard

    def assert_issued(self, certificate, certificate_type):
        self.assertEqual(certificate.state, "active")
        self.assertEqual(certificate.certificate_type, certificate_type)
        self.assertTrue(certificate.serial_number)
        self.assertTrue(certificate.has_secret)
        issued = [
            c
            for c in self.sim.certificates
            if c["certificateSerialNumber"] == certificate.serial_number
        ]
        self.assertEqual(len(issued), 1)
        self.assertEqual(issued[0]["type"], certificate_type)
        # the certificate KSeF issued certifies the key Odoo keeps
        cert = certificate._ksef_certificate()
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        self.assertEqual(
            cert.public_key().public_bytes(serialization.Encoding.DER, public),
            certificate.sudo()
            ._ksef_private_key()
            .public_key()
            .public_bytes(serialization.Encoding.DER, public),
        )
        self.assertEqual(csr.certificate_type_of(cert), certificate_type)

    # -- enrolment ---------------------------------------------------------------------------

    def test_signed_outside_shows_limits_then_issues_an_authentication_certificate(self):
        wizard = self.request_wizard()
        wizard.action_prepare_request()
        self.sign(wizard, self.seal_key, self.seal_cert)
        wizard.action_check_limits()
        self.assertEqual(wizard.step, "confirm")
        self.assertIn("Requests left", wizard.limits_text)
        self.assertIn(NIP_A, wizard.subject_text)
        self.assertEqual(self.sim.calls[ENROL], 0, "nothing is requested before the limits")
        self.assertFalse(wizard.signed_file, "the signed login is wiped once used")
        action = wizard.action_request()
        certificate = self.env["ksef.certificate"].browse(action["res_id"])
        self.assert_issued(certificate, "Authentication")
        self.assertFalse(wizard.session_sealed, "the sealed session is wiped")
        self.assertEqual(certificate.scope, "company")
        self.env.cr.postcommit.run()
        self.assertEqual([r[1] for r in self.journal_rows()], ["done"])
        self.assertFalse(self.journal_rows()[0][3], "no key left in the journal")

    def test_offline_certificate_with_a_certificate_stored_in_odoo(self):
        stored = self.stored_certificate(key=self.seal_key, cert=self.seal_cert)
        wizard = self.request_wizard(
            user=self.sysadmin_a,
            auth_method="certificate",
            certificate_id=stored.id,
            certificate_type="Offline",
        )
        wizard.action_check_limits()
        certificate = self.env["ksef.certificate"].browse(wizard.action_request()["res_id"])
        self.assert_issued(certificate, "Offline")
        with self.assertRaisesRegex(UserError, "Offline certificate"):
            self.env["ksef.session.service"]._ksef_certificate_session(certificate, self.company_a)

    def test_operator_certificate_with_rsa(self):
        certificate, _w = self.request_signed_outside(
            key=self.person_key,
            cert=self.person_cert,
            holder="user",
            user_id=self.send_a.id,
            key_type="rsa",
        )
        self.assert_issued(certificate, "Authentication")
        self.assertEqual(certificate.operator_id, self.send_a)
        self.assertEqual(certificate.key_type, "rsa")

    def test_limits_reached_requests_nothing_and_says_so(self):
        limits = self.sim.config.certificate_limits
        self.addCleanup(setattr, self.sim.config, "certificate_limits", limits)
        self.sim.config.certificate_limits = {"Nip": (0, 0), "Pesel": (0, 0), "Fingerprint": (0, 0)}
        before = self.env["ksef.certificate"].search_count([])
        with self.assertRaisesRegex(UserError, "Requests left: 0"):
            self.request_signed_outside()
        self.assertEqual(self.sim.calls[ENROL], 0)
        self.assertEqual(self.env["ksef.certificate"].search_count([]), before)
        self.assertEqual(self.journal_rows(), [])

    def test_bad_name_is_refused_before_signing(self):
        wizard = self.request_wizard(description="Odoo / faktury!")
        with self.assertRaisesRegex(UserError, "certificate name"):
            wizard.action_prepare_request()

    def test_only_ksef_administrators_request(self):
        with self.assertRaises(AccessError):
            self.request_wizard(user=self.send_a)

    # -- no orphans --------------------------------------------------------------------------

    def test_answer_lost_then_recovery_stores_the_certificate_with_its_key(self):
        self.sim.faults.add("/certificates/enrollments", method="POST", kind="drop_after")
        with self.assertRaisesRegex(UserError, "could not be requested"):
            self.request_signed_outside()
        rows = self.journal_rows()
        self.assertEqual([r[1] for r in rows], ["requested"])
        self.assertTrue(rows[0][3], "the key is kept in the journal")
        self.assertEqual(len(self.sim.certificates), 1, "KSeF issued it anyway")
        # recovery: a session of the company's identity (here its administrator token)
        self.generate_signed_outside(token_type="A", description="Admin token")
        self.env.cr.postcommit.run()  # the token's own journal row is closed
        results = self.env["ksef.pending.generation"]._ksef_recover(min_age=None)
        self.assertEqual(list(results.values()), ["done"])
        stored = self.env["ksef.certificate"].search([])
        self.assertEqual(len(stored), 1)
        self.assert_issued(stored, "Authentication")

    def test_request_ksef_never_received_is_discarded_with_its_key(self):
        self.sim.faults.add("/certificates/enrollments", method="POST", kind="drop_before")
        with self.assertRaises(UserError):
            self.request_signed_outside()
        self.assertEqual(self.sim.certificates, [])
        self.generate_signed_outside(token_type="A", description="Admin token")
        self.env.cr.postcommit.run()  # the token's own journal row is closed
        results = self.env["ksef.pending.generation"]._ksef_recover(min_age=None)
        self.assertEqual(list(results.values()), ["failed"])
        self.assertFalse(
            [r for r in self.journal_rows() if r[3]], "the key of a request that never came is gone"
        )


@tagged("post_install", "-at_install")
class TestCertificateLifecycle(KsefSimCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seal_key, cls.seal_cert = testing_certs.generate_test_certificate(NIP_A, kind="seal")

    def setUp(self):
        super().setUp()
        wizard = self.as_user(self.admin_a)["ksef.certificate.request"].create(
            {
                "scope": "company",
                "company_id": self.company_a.id,
                "environment": "test",
                "certificate_type": "Authentication",
                "description": "Odoo faktury",
            }
        )
        wizard.action_prepare_request()
        self.sign(wizard, self.seal_key, self.seal_cert)
        wizard.action_check_limits()
        self.certificate = self.env["ksef.certificate"].browse(wizard.action_request()["res_id"])

    def test_sync_finds_a_certificate_made_elsewhere(self):
        other_key = csr.generate_key("ec")
        serial, _cert = self.sim.issue_certificate(
            NIP_A,
            other_key,
            EnrollmentData(
                common_name="Firma A", country_name="PL", organization_identifier=f"VATPL-{NIP_A}"
            ),
            name="Z aplikacji podatnika",
        )
        action = self.as_user(self.admin_a)["ksef.certificate"].action_ksef_sync()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        found = self.env["ksef.certificate"].search([("serial_number", "=", serial)])
        self.assertEqual(found.origin, "found")
        self.assertFalse(found.has_secret)
        self.assertEqual(found.state, "active")
        self.certificate.invalidate_recordset()
        self.assertTrue(self.certificate.last_sync_date)

    def test_revoke_with_a_reason(self):
        env = self.as_user(self.admin_a)
        results = env["ksef.certificate.revocation"]._ksef_revoke(
            env["ksef.certificate"].browse(self.certificate.id), "Superseded"
        )
        self.assertEqual(list(results.values()), [False])
        self.assertEqual(self.certificate.state, "revoked")
        self.assertEqual(self.certificate.revocation_reason, "Superseded")
        self.assertFalse(self.certificate.has_secret, "a revoked certificate's key is wiped")
        issued = [
            c
            for c in self.sim.certificates
            if c["certificateSerialNumber"] == self.certificate.serial_number
        ]
        self.assertEqual(issued[0]["status"], "Revoked")

    def test_certificate_signs_in_to_its_company_context(self):
        with self.env["ksef.session.service"]._ksef_certificate_session(
            self.certificate, self.company_a
        ) as session:
            self.assertTrue(session.access_token)

    def test_private_key_is_never_readable(self):
        key_pem = self.certificate.sudo()._ksef_get_secret()
        self.assertIn("PRIVATE KEY", key_pem)
        body = key_pem.split("-----")[2].strip().replace("\n", "")
        self.env.flush_all()
        for table in (
            "ksef_certificate",
            "ksef_certificate_request",
            "ksef_pending_generation",
            "mail_message",
            "mail_tracking_value",
        ):
            self.env.cr.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # fixed names
            dump = "\n".join(r[0] for r in self.env.cr.fetchall())
            self.assertNotIn(body[:40], dump, f"private key material found in {table}")
        fields = self.env["ksef.certificate"].fields_get()
        self.assertNotIn("secret_ciphertext", fields)
        with self.assertRaises(ValueError):
            self.certificate.read(["secret_ciphertext"])
        exported = self.certificate.export_data(list(fields))["datas"]
        self.assertNotIn(body[:40], repr(exported))
        with self.assertRaises(AccessError):
            self.certificate.with_user(self.admin_a)._ksef_get_secret()

    def test_other_company_and_other_roles_see_nothing(self):
        Certificate = self.env["ksef.certificate"]
        self.assertFalse(Certificate.with_user(self.admin_b).search([]))
        with self.assertRaises(AccessError):
            Certificate.with_user(self.send_a).search([])
        with self.assertRaises(AccessError):
            self.certificate.with_user(self.admin_b).read(["name"])


@tagged("post_install", "-at_install")
class TestCertificateKeyDownload(KsefSimCase):
    def test_the_private_key_is_downloaded_once_with_a_password(self):
        from ..ksef import crypto
        from .session_common import CertificateMixin

        certificate = CertificateMixin.stored_certificate(self)
        env = self.as_user(self.admin_a)
        Export = env["ksef.certificate.export"]
        wizard = Export.browse(
            Export.action_open(env["ksef.certificate"].browse(certificate.id))["res_id"]
        )
        wizard.write({"password": "short", "password_confirm": "short"})
        with self.assertRaisesRegex(UserError, "8 characters"):
            wizard.action_export()
        wizard.write({"password": "dobre-haslo-1", "password_confirm": "inne-haslo-2"})
        with self.assertRaisesRegex(UserError, "differ"):
            wizard.action_export()
        wizard.write({"password": "dobre-haslo-1", "password_confirm": "dobre-haslo-1"})
        wizard.action_export()
        self.assertFalse(wizard.password, "the password is wiped once the file is made")
        key, cert = crypto.load_pkcs12(base64.b64decode(wizard.pkcs12_file), "dobre-haslo-1")[:2]
        self.assertEqual(cert.serial_number, certificate._ksef_certificate().serial_number)
        self.assertTrue(certificate.key_downloaded)
        again = Export.browse(
            Export.action_open(env["ksef.certificate"].browse(certificate.id))["res_id"]
        )
        again.write({"password": "dobre-haslo-1", "password_confirm": "dobre-haslo-1"})
        with self.assertRaisesRegex(AccessError, "already downloaded once"):
            again.action_export()
        # another company's administrator cannot even open it
        with self.assertRaises(AccessError):
            self.as_user(self.admin_b)["ksef.certificate.export"].action_open(
                self.as_user(self.admin_b)["ksef.certificate"].browse(certificate.id)
            )


class CertificateRequestCase(KsefSimCase):
    """Requests signed outside Odoo by Firma A's seal (no tests of its own)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seal_key, cls.seal_cert = testing_certs.generate_test_certificate(NIP_A, kind="seal")

    def request(self):
        wizard = self.as_user(self.admin_a)["ksef.certificate.request"].create(
            {"company_id": self.company_a.id, "environment": "test", "description": "Odoo faktury"}
        )
        wizard.action_prepare_request()
        self.sign(wizard, self.seal_key, self.seal_cert)
        wizard.action_check_limits()
        return self.env["ksef.certificate"].browse(wizard.action_request()["res_id"])


@tagged("post_install", "-at_install")
class TestCertificateFollowUp(CertificateRequestCase):
    def test_a_request_ksef_finishes_later_is_retrieved_by_the_sync_job(self):
        delay = self.sim.config.enrollment_delay
        self.addCleanup(setattr, self.sim.config, "enrollment_delay", delay)
        self.sim.config.enrollment_delay = 3600
        from ..models import ksef_certificate_enrolment

        with patch.object(ksef_certificate_enrolment, "ISSUE_WAIT", 1.0):  # do not wait 30 s
            certificate = self.request()
        self.assertEqual(certificate.state, "requested")
        self.assertTrue(certificate.has_secret, "the key is kept while KSeF works")
        self.generate_signed_outside(token_type="A", description="Admin token")
        self.env.cr.postcommit.run()
        self.sim.advance(3700)
        self.env["ksef.token.sync"]._cron_ksef_sync()
        self.assertEqual(certificate.state, "active")
        self.assertTrue(certificate.serial_number)

    def test_limits_are_recorded_and_a_low_reserve_is_warned(self):
        limits = self.sim.config.certificate_limits
        self.addCleanup(setattr, self.sim.config, "certificate_limits", limits)
        self.sim.config.certificate_limits = {"Nip": (3, 100), "Pesel": (12, 6)}
        self.request()
        self.as_user(self.admin_a)["ksef.certificate"].action_ksef_sync()
        self.assertEqual(self.company_a.ksef_certificate_requests_left, 2)
        self.env["ksef.health"]._cron_ksef_health()
        warning = self.company_a.activity_ids.filtered(
            lambda a: a.ksef_health_key == "company_certificate_limits"
        )
        self.assertEqual(len(warning), 1)
        self.assertIn("2 more certificates", warning.note)


@tagged("post_install", "-at_install")
class TestCertificateOrphans(CertificateRequestCase):
    def test_retrieve_fails_then_the_sync_job_stores_it(self):
        self.sim.faults.add("/certificates/retrieve", method="POST", kind="error5xx", times=None)
        certificate = self.request()
        self.assertEqual(certificate.state, "requested", "issued, not retrieved yet")
        self.assertTrue(certificate.has_secret)
        self.assertEqual(len(self.sim.certificates), 1)
        self.sim.faults.clear()
        self.generate_signed_outside(token_type="A", description="Admin token")
        self.env.cr.postcommit.run()
        self.env["ksef.token.sync"]._cron_ksef_sync()
        self.assertEqual(certificate.state, "active")
        self.assertEqual(
            certificate.serial_number, self.sim.certificates[0]["certificateSerialNumber"]
        )

    def test_odoo_fails_after_ksef_issued_then_the_recovery_stores_it(self):
        Certificate = type(self.env["ksef.certificate"])

        def broken(*_args, **_kwargs):
            raise RuntimeError("database went away")

        with (
            patch.object(Certificate, "_ksef_store_secret", broken),
            self.assertRaises(RuntimeError),
            self.env.cr.savepoint(),  # the request's transaction is rolled back
        ):
            self.request()
        self.env.invalidate_all()
        self.assertFalse(self.env["ksef.certificate"].search([]), "the transaction failed")
        self.assertEqual(len(self.sim.certificates), 1, "KSeF issued it")
        rows = self.journal_rows()
        self.assertEqual([r[1] for r in rows], ["created"])
        self.assertTrue(rows[0][3], "the journal kept the key")
        self.generate_signed_outside(token_type="A", description="Admin token")
        self.env.cr.postcommit.run()
        results = self.env["ksef.pending.generation"]._ksef_recover(min_age=None)
        self.assertIn("done", results.values())
        stored = self.env["ksef.certificate"].search([])
        self.assertEqual(stored.state, "active")
        self.assertTrue(stored.has_secret)


@tagged("post_install", "-at_install")
class TestCertificateRefusals(CertificateRequestCase):
    """Each refusal of the certificate request is one translated sentence, and nothing is
    stored (the journal row is closed, its key discarded)."""

    def refused(self, build_csr, fragment):
        with patch.object(csr, "build_csr", build_csr), self.assertRaisesRegex(UserError, fragment):
            self.request()
        self.assertFalse(self.env["ksef.certificate"].search([]))
        self.assertEqual(self.sim.certificates, [])
        self.assertEqual([r[1] for r in self.journal_rows()], ["failed"])
        self.assertFalse(self.journal_rows()[0][3], "no key is kept for a refused request")

    def test_damaged_request(self):
        self.refused(lambda key, data: b"not a CSR", "damaged")

    def test_subject_differs(self):
        original = csr.build_csr

        def other_subject(key, data):
            return original(key, EnrollmentData(common_name="Someone else", country_name="PL"))

        self.refused(other_subject, "subject differs")

    def test_key_ksef_does_not_accept(self):
        from cryptography.hazmat.primitives.asymmetric import ec

        original = csr.build_csr

        def p384(_key, data):
            # build_csr refuses keys KSeF would refuse: sign a P-384 request by hand
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes

            key = ec.generate_private_key(ec.SECP384R1())
            name = x509.load_der_x509_csr(original(csr.generate_key("ec"), data)).subject
            request = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(name)
                .sign(key, hashes.SHA256())
            )
            return request.public_bytes(serialization.Encoding.DER)

        self.refused(p384, "EC P-256 or RSA 2048")

    def test_token_session_cannot_request(self):
        token, _text = self.import_token()
        with self.env["ksef.session.service"]._ksef_own_session(token) as session:
            with self.assertRaisesRegex(UserError, "not with a KSeF token"):
                self.env["ksef.certificate.enrolment"].with_user(self.admin_a)._ksef_enrol(
                    session,
                    {"company_id": self.company_a.id, "environment": "test"},
                    "Authentication",
                    "Odoo faktury",
                )


@tagged("post_install", "-at_install")
class TestPracticeCertificate(KsefSimCase):
    """In the Sandbox a certificate can be tried without a signature: Odoo makes a practice
    seal of the company, as for practice tokens."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_http_sandbox(cls)

    def setUp(self):
        super().setUp()
        self.sandbox.reset()
        self.sandbox.config.rate_limits = False
        self.sandbox.config.auth_delay = 0.0

    def wizard(self, environment):
        return self.as_user(self.admin_a)["ksef.certificate.request"].create(
            {
                "company_id": self.company_a.id,
                "environment": environment,
                "auth_method": "sandbox",
                "description": "Odoo certyfikat cwiczebny",
            }
        )

    def test_practice_seal_only_in_the_sandbox(self):
        with self.assertRaisesRegex(UserError, "only in the Sandbox"):
            self.wizard("test").action_check_limits()

    def test_practice_certificate_in_the_sandbox(self):
        wizard = self.wizard("sandbox")
        wizard.action_check_limits()
        self.assertIn("Requests left", wizard.limits_text)
        certificate = self.env["ksef.certificate"].browse(wizard.action_request()["res_id"])
        self.assertEqual(certificate.state, "active")
        self.assertEqual(certificate.environment, "sandbox")
        self.assertTrue(certificate.has_secret)
