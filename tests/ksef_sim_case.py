"""Odoo test cases against the KSeF simulator over real HTTP (127.0.0.1).

``KsefSimCase`` starts one :class:`SimulatorServer` per class and points the ``test``
environment at it (``ksef_url_test``); each test starts from an empty simulator. Rows of the
generation journal are committed through their own cursors (that is their point), so they are
purged after each test.
"""

import base64

from odoo.tests import new_test_user

from ..ksef import crypto, testing_certs, xades
from ..ksef.identifiers import ContextIdentifier
from .common import BRANCH_A1, GROUP_ADMIN, NIP_A, KsefCase, start_http_simulator

CTX_A = ContextIdentifier.nip(NIP_A)
CTX_A1 = ContextIdentifier.internal_id(BRANCH_A1)
PKCS12_PASSWORD = "test-password"


class KsefSimCase(KsefCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_http_simulator(cls)
        cls.person_key, cls.person_cert = testing_certs.generate_test_certificate(
            NIP_A, kind="person"
        )
        cls.other_key, cls.other_cert = testing_certs.generate_test_certificate(
            "7352765225", kind="person"
        )
        cls.sysadmin_a = new_test_user(
            cls.env,
            login="sys_a",
            groups=f"base.group_system,{GROUP_ADMIN}",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, (cls.company_a | cls.branch_a1 | cls.branch_a2).ids)],
        )

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.sim.config.rate_limits = False  # a test may have turned them on
        self.addCleanup(self.purge_journal)

    # -- helpers ---------------------------------------------------------------------------

    def purge_journal(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ksef_pending_generation")

    def journal_rows(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT request_key, state, reference_number, secret_sealed IS NOT NULL "
                "FROM ksef_pending_generation ORDER BY id"
            )
            return cr.fetchall()

    def as_user(self, user):
        return self.env(user=user, context={"allowed_company_ids": user.company_ids.ids})

    def generate_wizard(self, user=None, **values):
        user = user or self.admin_a
        vals = {
            "scope": "company",
            "company_id": self.company_a.id,
            "environment": "test",
            "token_type": "W",
            "description": "Odoo test token",
        }
        vals.update(values)
        return self.as_user(user)["ksef.token.generate"].create(vals)

    def sign(self, wizard, key=None, cert=None):
        """Sign the wizard's auth.xml as Profil Zaufany would, and upload it."""
        xml = base64.b64decode(wizard.auth_request)
        signed = xades.sign_auth_token_request(
            xml, key or self.person_key, cert or self.person_cert
        )
        wizard.signed_file = base64.b64encode(signed)
        return signed

    def generate_signed_outside(self, user=None, **values):
        wizard = self.generate_wizard(user=user, **values)
        wizard.action_prepare_request()
        self.sign(wizard)
        action = wizard.action_generate()
        return self.env["ksef.token"].browse(action["res_id"])

    def stored_certificate(self, company=None, key=None, cert=None):
        p12 = crypto.make_pkcs12(key or self.person_key, cert or self.person_cert, PKCS12_PASSWORD)
        return self.env["certificate.certificate"].create(
            {
                "name": "KSeF certificate",
                "content": base64.b64encode(p12),
                "pkcs12_password": PKCS12_PASSWORD,
                "company_id": (company or self.company_a).id,
            }
        )

    def orphans(self, context=CTX_A):
        """Tokens alive in KSeF that Odoo does not store with their secret."""
        known = set(
            self.env["ksef.token"]
            .sudo()
            .with_context(active_test=False)
            .search([("has_secret", "=", True)])
            .mapped("reference_number")
        )
        return [
            t["referenceNumber"]
            for t in self.sim.tokens_in(context)
            if t["status"] in ("Pending", "Active") and t["referenceNumber"] not in known
        ]
