"""Browser tours (headless Chromium) of the token wizards, against the KSeF simulator.

The Odoo HTTP server of HttpCase runs in this process, so the ``ksef_url_test`` override of
``KsefSimCase`` reaches it. The generate tour signs outside Odoo as a user would: it takes the
auth.xml the wizard offers, has it signed by a local stand-in for Profil Zaufany (``Signer``,
127.0.0.1, with the test person's certificate) and uploads the signed file.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import odoo
from odoo.tests import HttpCase, tagged

from ..ksef import xades
from .common import NIP_A, start_tour_or_fail
from .ksef_sim_case import CTX_A, KsefSimCase


class Signer:
    """Signs the auth.xml POSTed to it (XAdES, enveloped) and answers the signed file."""

    def __init__(self, key, cert):
        signer = self
        self.signed = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                size = int(self.headers.get("Content-Length") or 0)
                if not 0 < size <= xades.MAX_XML_SIZE:
                    self.send_error(413)
                    return
                body = xades.sign_auth_token_request(self.rfile.read(size), key, cert)
                signer.signed += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sign"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@tagged("post_install", "-at_install")
class TestTour(KsefSimCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Read every manifest now, in this thread: on the first page load the HTTP server's
        # threads would do it at the same time, and CPython 3.11 may then fail with
        # "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905),
        # answering 500 for an asset bundle and breaking the tour at random.
        assert odoo.http.root.statics
        cls.signer = Signer(cls.person_key, cls.person_cert)
        cls.signer.start()
        cls.addClassCleanup(cls.signer.stop)

    def tour(self, name, **data):
        """Run tour ``name`` as the KSeF administrator of Firma A, with ``data`` in
        ``window.ksefTour``."""
        # the KSeF menus ask for the password (identity check); new_test_user's password is the
        # login padded with "x" to 8 characters
        login = self.admin_a.login
        data.setdefault("password", login + "x" * (8 - len(login)))
        options = {"stepDelay": 0, "keepWatchBrowser": False, "debug": False, "startUrl": "/odoo"}
        code = (
            f"window.ksefTour = {json.dumps(data)}; odoo.startTour({name!r}, {json.dumps(options)})"
        )
        start_tour_or_fail(self, "/odoo", name, login=self.admin_a.login, code=code, timeout=120)

    def test_import_token_tour(self):
        token = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead", "InvoiceWrite"])
        self.tour("l10n_pl_ksef_token_import_tour", token=token)
        imported = self.env["ksef.token"].search(
            [("reference_number", "=", token.split("|", 1)[0])]
        )
        self.assertEqual(len(imported), 1)
        self.assertEqual(imported.company_id, self.company_a)
        self.assertEqual(imported.state, "active")
        self.assertTrue(imported.has_secret)
        self.assertEqual(imported.sudo()._ksef_get_secret(), token)

    def test_generate_token_signed_outside_tour(self):
        self.tour("l10n_pl_ksef_token_generate_tour", signerUrl=self.signer.url)
        self.assertEqual(self.signer.signed, 1)
        token = self.env["ksef.token"].search([("name", "=", "Odoo tour token")])
        self.assertEqual(len(token), 1)
        self.assertEqual(token.state, "active")
        self.assertEqual(token.origin, "generated")
        self.assertTrue(token.has_secret)
        in_ksef = [t for t in self.sim.tokens_in(CTX_A) if t["status"] == "Active"]
        self.assertEqual([t["referenceNumber"] for t in in_ksef], [token.reference_number])
        self.assertFalse(self.orphans())
