"""Test case for the KSeF session service against the simulator over real HTTP.

One :class:`SimulatorServer` per class; the ``test`` environment points at it
(``ksef_url_test``); each test starts with an empty simulator. The registry is in test mode
during each test so that the service's private renewal cursor (a ``TestCursor`` then) sees the
test's data and its commit is only a savepoint release: nothing is left behind.
"""

import base64
from collections import Counter
from datetime import timedelta
from unittest.mock import patch

from cryptography.hazmat.primitives import serialization

from odoo import fields

from ..ksef import crypto, csr
from ..ksef.identifiers import ContextIdentifier
from ..ksef.models import EnrollmentData, Identifier
from .common import BRANCH_A1, NIP_A, KsefCase, start_http_simulator

CTX_A = ContextIdentifier.nip(NIP_A)
CTX_A1 = ContextIdentifier.internal_id(BRANCH_A1)
AUTH = "POST /auth/ksef-token"
REFRESH = "POST /auth/token/refresh"


class KsefSessionCase(KsefCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_http_simulator(cls)
        cls.service = cls.env["ksef.session.service"]

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.sim.clock.reset()  # in step with Odoo's clock again
        self.sim.config.rate_limits = False
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)
        self.sleeps = []
        self.clock = [None]  # None = real time; else the service's "now"
        service_cls = type(self.env["ksef.session.service"])
        self.startPatcher(
            patch.object(service_cls, "_ksef_sleep", lambda _self, s: self.sleeps.append(s))
        )
        self.startPatcher(
            patch.object(
                service_cls,
                "_ksef_now",
                lambda _self: self.clock[0] or fields.Datetime.now(),
            )
        )

    # -- helpers ---------------------------------------------------------------------------

    def move_clock(self, **delta):
        """Move the service's clock (and the simulator's) forward."""
        now = self.clock[0] or fields.Datetime.now()
        self.clock[0] = now + timedelta(**delta)
        self.sim.advance(timedelta(**delta).total_seconds())

    def sim_token(self, permissions, *, context=CTX_A, description="Odoo session test", **values):
        """A token created in the simulator (as the Ministry's app would) and imported into
        Odoo by admin_a with the same permissions, unless ``odoo_permissions`` says others."""
        odoo_permissions = values.pop("odoo_permissions", permissions)
        text = self.sim.create_token(context.value, NIP_A, list(permissions), description)
        calls = Counter(self.sim.calls)  # the import's verification is not the test's traffic
        token, _text = self.import_token(token=text, description=description, **values)
        self.sim.calls.clear()
        self.sim.calls.update(calls)
        if set(odoo_permissions) != set(permissions):
            # Odoo's copy of the permissions is stale (KSeF changed them since the import)
            token.sudo().permission_ids = self.env["ksef.permission"]._by_names(odoo_permissions)
        return token

    def get_client(self, scope="fetch", user=None, company=None):
        user = user or self.admin_a
        env = self.env(user=user, context={"allowed_company_ids": user.company_ids.ids})
        company = env["res.company"].browse((company or self.company_a).id)
        return env["ksef.session.service"].get_client(company, scope)

    def session_row(self, token):
        self.env.flush_all()
        self.cr.execute(
            "SELECT access_ciphertext, refresh_ciphertext, auth_count, refresh_count, "
            "access_valid_until, refresh_valid_until FROM ksef_session WHERE token_id = %s",
            [token.id],
        )
        return self.cr.fetchone()


class CertificateMixin:
    """KSeF certificates the simulator issued and Odoo holds (for session and tour tests)."""

    def stored_certificate(self, subject=NIP_A, certificate_type="Authentication", **values):
        """A certificate KSeF issued (in the simulator) and Odoo holds with its key."""
        key = csr.generate_key("ec")
        if subject == NIP_A:
            data = EnrollmentData(
                common_name="Firma A",
                country_name="PL",
                organization_name="Firma A",
                organization_identifier=f"VATPL-{NIP_A}",
            )
            identity = NIP_A
        else:
            data = EnrollmentData(
                common_name="Jan Kowalski",
                country_name="PL",
                given_name="Jan",
                surname="Kowalski",
                serial_number=f"PNOPL-{subject}",
            )
            identity = Identifier("Pesel", subject)
        serial, cert = self.sim.issue_certificate(
            identity, key, data, certificate_type=certificate_type
        )
        certificate = self.env["ksef.certificate"].create(
            {
                "name": "Odoo certyfikat",
                "company_id": self.company_a.id,
                "certificate_type": certificate_type,
                "environment": "test",
                "serial_number": serial,
                "enrollment_reference": f"ref-{serial}",
                "state": "active",
                "certificate_der": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)),
                "valid_to": fields.Datetime.now() + timedelta(days=700),
                **values,
            }
        )
        certificate.sudo()._ksef_store_secret(crypto.private_key_to_pem(key).decode("ascii"))
        return certificate


class CertificateCase(CertificateMixin, KsefSessionCase):
    """Session tests with KSeF certificates the simulator issued and Odoo holds."""
