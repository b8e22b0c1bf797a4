"""Browser tours (headless Chromium) of KSeF certificates against the simulator: the request
wizard signed outside Odoo (a local stand-in for the company's seal signs auth.xml), the list
and form buttons, and the "Prepare for the token cut-off" view."""

import json

import odoo
from odoo.tests import HttpCase, tagged

from ..ksef import testing_certs
from .common import NIP_A, start_tour_or_fail
from .ksef_sim_case import CTX_A, KsefSimCase
from .session_common import CertificateMixin
from .test_tour import Signer


def _tour(case, name, **data):
    login = case.admin_a.login
    data.setdefault("password", login + "x" * (8 - len(login)))
    options = {"stepDelay": 0, "keepWatchBrowser": False, "debug": False, "startUrl": "/odoo"}
    code = f"window.ksefTour = {json.dumps(data)}; odoo.startTour({name!r}, {json.dumps(options)})"
    start_tour_or_fail(case, "/odoo", name, login=login, code=code, timeout=120)


@tagged("post_install", "-at_install")
class TestCertificateTour(KsefSimCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        assert odoo.http.root.statics  # see TestTour.setUpClass
        key, cert = testing_certs.generate_test_certificate(NIP_A, kind="seal")
        cls.signer = Signer(key, cert)
        cls.signer.start()
        cls.addClassCleanup(cls.signer.stop)

    def test_request_sync_and_revoke_tour(self):
        _tour(self, "l10n_pl_ksef_token_certificate_tour", signerUrl=self.signer.url)
        self.assertEqual(self.signer.signed, 1)
        certificate = self.env["ksef.certificate"].search([("name", "ilike", "wycieczki")])
        self.assertEqual(len(certificate), 1)
        self.assertEqual(certificate.state, "revoked")
        self.assertEqual(certificate.revocation_reason, "Superseded")
        self.assertTrue(certificate.key_downloaded)
        in_ksef = [
            c
            for c in self.sim.certificates
            if c["certificateSerialNumber"] == certificate.serial_number
        ]
        self.assertEqual(in_ksef[0]["status"], "Revoked")


@tagged("post_install", "-at_install")
class TestCutoffTour(CertificateMixin, KsefSimCase, HttpCase):
    def test_cutoff_view_tour(self):
        self.import_token(
            token=self.sim.create_token(
                CTX_A, NIP_A, ["InvoiceRead", "InvoiceWrite", "CredentialsManage"]
            )
        )
        certificate = self.stored_certificate()
        certificate.name = "Odoo certyfikat"
        self.env.flush_all()
        _tour(self, "l10n_pl_ksef_token_cutoff_tour")
        self.assertEqual(self.company_a.ksef_auth_order, "certificates_first")
