import base64
from datetime import timedelta

from odoo.exceptions import AccessError, UserError
from odoo.fields import Datetime
from odoo.tests import tagged

from ..ksef import xades
from ..ksef.permissions import type_a_permissions
from ..models.ksef_connection import make_client
from .common import BRANCH_A1
from .ksef_sim_case import CTX_A, CTX_A1, KsefSimCase


@tagged("post_install", "-at_install")
class TestGenerateSignedOutside(KsefSimCase):
    def test_type_w_company_scope(self):
        token = self.generate_signed_outside(token_type="W")
        self.assertEqual(token.state, "active")
        self.assertEqual(token.origin, "generated")
        self.assertEqual(token.permission_ids.mapped("name"), ["InvoiceWrite"])
        self.assertEqual(token.assigned_company_ids, self.company_a)
        self.assertTrue(token.has_secret)
        info = self.sim.token_info(token.reference_number)
        self.assertEqual(info["status"], "Active")
        self.assertEqual(info["requestedPermissions"], ["InvoiceWrite"])
        self.assertIn("Odoo test token", info["description"])
        # the stored secret authenticates in KSeF
        with self.env["ksef.session.service"]._ksef_own_session(token) as session:
            self.assertTrue(session.access_token)
        self.assertIn("Token generated in KSeF", token.message_ids[0].body)
        self.assertNotIn(token.sudo()._ksef_get_secret().split("|")[2], token.message_ids[0].body)
        self.assertEqual(self.orphans(), [])

    def test_type_p(self):
        token = self.generate_signed_outside(token_type="P")
        self.assertEqual(
            self.sim.token_info(token.reference_number)["requestedPermissions"], ["InvoiceRead"]
        )

    def test_type_a_reads_the_signer_permissions(self):
        token = self.generate_signed_outside(token_type="A")
        # exactly what KSeF says the signer holds in the context (token permissions only)
        client = make_client("test")
        session = client.authenticate_with_certificate(CTX_A, self.person_key, self.person_cert)
        held = type_a_permissions(client.query_personal_grants(session.access_token, context=CTX_A))
        self.assertGreater(len(held), 2)
        self.assertEqual(
            sorted(self.sim.token_info(token.reference_number)["requestedPermissions"]),
            sorted(held),
        )
        self.assertIn("CredentialsManage", token.permission_ids.mapped("name"))

    def test_custom(self):
        perms = self.perm["InvoiceRead"] | self.perm["CredentialsRead"]
        token = self.generate_signed_outside(
            token_type="custom", permission_ids=[(6, 0, perms.ids)]
        )
        self.assertEqual(
            sorted(self.sim.token_info(token.reference_number)["requestedPermissions"]),
            ["CredentialsRead", "InvoiceRead"],
        )

    def test_branch_scope(self):
        token = self.generate_signed_outside(scope="branch", branch_id=self.branch_a1.id)
        self.assertEqual((token.context_type, token.context_value), ("InternalId", BRANCH_A1))
        self.assertEqual(token.company_id, self.branch_a1)
        self.assertEqual(token.assigned_company_ids, self.branch_a1)
        self.assertEqual(
            self.sim.token_info(token.reference_number)["contextIdentifier"]["value"], BRANCH_A1
        )
        self.assertEqual(self.orphans(CTX_A1), [])

    def test_operator_scope(self):
        token = self.generate_signed_outside(scope="user", user_id=self.send_a.id)
        self.assertEqual(token.operator_id, self.send_a)
        self.assertEqual(token.user_ids, self.send_a)
        self.assertFalse(token.assigned_company_ids)
        self.env["ksef.access"].with_user(self.send_a)._ksef_check_token(
            token, "send", user=self.send_a, company=self.company_a
        )

    def test_missing_permissions_are_named(self):
        wizard = self.generate_wizard(token_type="W")
        wizard.action_prepare_request()
        # someone without any permission in the context signs
        xml = base64.b64decode(wizard.auth_request)
        self.sim.grant(CTX_A, {"type": "Nip", "value": "7352765225"}, ["InvoiceRead"])
        wizard.signed_file = base64.b64encode(
            xades.sign_auth_token_request(xml, self.other_key, self.other_cert)
        )
        with self.assertRaisesRegex(UserError, "InvoiceWrite") as caught:
            wizard.action_generate()
        self.assertIn("does not hold", str(caught.exception))
        self.assertEqual(self.sim.tokens_in(CTX_A), [])
        self.assertEqual([r[1] for r in self.journal_rows()], ["failed"])


@tagged("post_install", "-at_install")
class TestUploadChecks(KsefSimCase):
    def prepared(self, **values):
        wizard = self.generate_wizard(**values)
        wizard.action_prepare_request()
        return wizard

    def assert_refused(self, wizard, pattern):
        with self.assertRaisesRegex(UserError, pattern):
            wizard.action_generate()
        self.assertEqual(self.sim.tokens_in(CTX_A), [])
        self.assertEqual(self.sim.calls["POST /auth/xades-signature"], 0)

    def test_offers_the_request_for_the_chosen_context(self):
        wizard = self.prepared(scope="branch", branch_id=self.branch_a1.id)
        info = xades.read_auth_request(base64.b64decode(wizard.auth_request))
        self.assertEqual(info.challenge, wizard.challenge)
        self.assertEqual((info.context.type, info.context.value), ("InternalId", BRANCH_A1))
        self.assertFalse(info.signed)
        self.assertEqual(wizard.step, "sign")

    def test_no_upload(self):
        self.assert_refused(self.prepared(), "upload the signed file")

    def test_unsigned(self):
        wizard = self.prepared()
        wizard.signed_file = wizard.auth_request
        self.assert_refused(wizard, "not signed")

    def test_not_xml(self):
        wizard = self.prepared()
        wizard.signed_file = base64.b64encode(b"%PDF-1.7 not xml")
        self.assert_refused(wizard, "not an XML document")

    def test_external_entities_refused(self):
        wizard = self.prepared()
        evil = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<AuthTokenRequest>&e;</AuthTokenRequest>"
        )
        wizard.signed_file = base64.b64encode(evil)
        self.assert_refused(wizard, "DOCTYPE")

    def test_too_large(self):
        wizard = self.prepared()
        wizard.signed_file = base64.b64encode(b"<a>" + b" " * (xades.MAX_XML_SIZE + 10) + b"</a>")
        self.assert_refused(wizard, "too large")

    def test_tampered(self):
        wizard = self.prepared()
        signed = self.sign(wizard)
        wizard.signed_file = base64.b64encode(
            signed.replace(b"certificateSubject", b"certificateFingerprint")
        )
        self.assert_refused(wizard, "signature of the uploaded file is invalid")

    def test_older_challenge(self):
        wizard = self.prepared()
        old = base64.b64decode(wizard.auth_request)
        wizard.action_prepare_request()  # a new auth.xml replaces the first one
        from ..ksef import xades as x

        wizard.signed_file = base64.b64encode(
            x.sign_auth_token_request(old, self.person_key, self.person_cert)
        )
        self.assert_refused(wizard, "another challenge")

    def test_stale(self):
        wizard = self.prepared()
        self.sign(wizard)
        wizard.challenge_date = Datetime.now() - timedelta(minutes=11)
        self.assert_refused(wizard, "older than 10 minutes")

    def test_other_context(self):
        wizard = self.prepared()
        # an auth.xml of the branch, signed with the right challenge
        xml = xades.build_auth_token_request(wizard.challenge, CTX_A1)
        wizard.signed_file = base64.b64encode(
            xades.sign_auth_token_request(xml, self.person_key, self.person_cert)
        )
        self.assert_refused(wizard, BRANCH_A1)

    def test_challenge_expired_in_ksef(self):
        wizard = self.prepared()
        self.sign(wizard)
        self.sim.advance(601)
        with self.assertRaisesRegex(UserError, "challenge expired"):
            wizard.action_generate()
        self.assertEqual(self.sim.tokens_in(CTX_A), [])


@tagged("post_install", "-at_install")
class TestGenerateWithCertificate(KsefSimCase):
    def test_company_token_without_manual_step(self):
        certificate = self.stored_certificate()
        wizard = self.generate_wizard(
            user=self.sysadmin_a, auth_method="certificate", certificate_id=certificate.id
        )
        action = wizard.action_generate()
        token = self.env["ksef.token"].browse(action["res_id"])
        self.assertEqual(token.state, "active")
        self.assertTrue(token.has_secret)
        self.assertEqual(self.orphans(), [])

    def test_certificate_needs_system_admin(self):
        certificate = self.stored_certificate()
        wizard = self.generate_wizard(user=self.sysadmin_a, auth_method="certificate")
        wizard.certificate_id = certificate
        with self.assertRaises(AccessError):
            wizard.with_user(self.admin_a).with_context(
                allowed_company_ids=self.admin_a.company_ids.ids
            ).action_generate()
        self.assertEqual(self.sim.tokens_in(CTX_A), [])

    def test_certificate_of_another_company(self):
        certificate = self.stored_certificate(company=self.company_b)
        wizard = self.generate_wizard(
            user=self.sysadmin_a, auth_method="certificate", certificate_id=certificate.id
        )
        with self.assertRaisesRegex(UserError, "another company"):
            wizard.action_generate()


@tagged("post_install", "-at_install")
class TestGenerateRights(KsefSimCase):
    def test_non_admins_cannot_generate(self):
        for user in (self.send_a, self.fetch_a, self.plain_a):
            with self.assertRaises(AccessError):
                self.as_user(user)["ksef.token.generate"].action_open()
            wizard = self.generate_wizard().with_user(user)
            with self.assertRaises(AccessError):
                wizard.action_prepare_request()

    def test_admin_of_another_company(self):
        wizard = self.generate_wizard()
        wizard = wizard.with_user(self.admin_b).with_context(
            allowed_company_ids=self.admin_b.company_ids.ids
        )
        with self.assertRaises(AccessError):
            wizard.action_prepare_request()
        self.assertEqual(self.sim.calls["POST /auth/challenge"], 0)
