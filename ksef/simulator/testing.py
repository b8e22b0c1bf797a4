"""Raw-HTTP helpers for tests that drive the simulator with plain ``requests``.

These deliberately do not use :class:`ksef.client.KsefClient`: they let the simulator's own
tests (and anyone debugging) talk to it exactly as the KSeF documentation describes.

    raw = RawKsef(requests.Session(), server.base_url)
    tokens = raw.login_with_token(token_string)          # -> dict with access/refresh
    raw.get('/tokens', bearer=tokens['accessToken']['token'])
"""

from __future__ import annotations

import base64

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


class RawKsef:
    """A thin wrapper: ``base_url`` ends with ``/v2``; every method returns ``requests.Response``
    unless it says otherwise."""

    def __init__(
        self,
        session=None,
        base_url="http://127.0.0.1:8090/v2",
        *,
        problem_details=False,
        timeout=10,
    ):
        self.session = session or requests.Session()
        self.base_url = base_url.rstrip("/")
        self.problem_details = problem_details
        self.timeout = timeout

    # --- plumbing ---

    def request(self, method, path, *, bearer=None, headers=None, **kw):
        all_headers = {}
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        if self.problem_details:
            all_headers["X-Error-Format"] = "problem-details"
        all_headers.update(headers or {})
        kw.setdefault("timeout", self.timeout)
        return self.session.request(method, self.base_url + path, headers=all_headers, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    # --- steps of the documented flows ---

    def challenge(self):
        """``POST /auth/challenge`` -> the JSON answer (asserts 200)."""
        response = self.post("/auth/challenge")
        assert response.status_code == 200, response.text
        return response.json()

    def token_key(self):
        """The ``KsefTokenEncryption`` entry of ``GET /security/public-key-certificates``."""
        response = self.get("/security/public-key-certificates")
        assert response.status_code == 200, response.text
        return next(k for k in response.json() if "KsefTokenEncryption" in k["usage"])

    @staticmethod
    def encrypt(token, timestamp_ms, key_entry, *, oaep_hash=hashes.SHA256):
        """Base64 RSA-OAEP ciphertext of ``token|timestampMs`` (``oaep_hash``: negative tests)."""
        certificate = x509.load_der_x509_certificate(base64.b64decode(key_entry["certificate"]))
        ciphertext = certificate.public_key().encrypt(
            f"{token}|{timestamp_ms}".encode(),
            padding.OAEP(
                mgf=padding.MGF1(algorithm=oaep_hash()), algorithm=oaep_hash(), label=None
            ),
        )
        return base64.b64encode(ciphertext).decode("ascii")

    def submit_ksef_token(
        self,
        token,
        context=None,
        *,
        challenge=None,
        key_entry=None,
        timestamp_ms=None,
        encrypted=None,
        public_key_id=True,
        authorization_policy=None,
    ):
        """``POST /auth/ksef-token`` (``context`` defaults to the token's own)."""
        challenge = challenge or self.challenge()
        key_entry = key_entry or self.token_key()
        if context is None:
            ctx = token.split("|")[1]
            context = (
                {"type": "Nip", "value": ctx[4:]}
                if ctx.lower().startswith("nip-")
                else {"type": "InternalId", "value": ctx[11:]}
            )
        body = {
            "challenge": challenge["challenge"],
            "contextIdentifier": context,
            "encryptedToken": encrypted
            or self.encrypt(
                token, challenge["timestampMs"] if timestamp_ms is None else timestamp_ms, key_entry
            ),
        }
        if public_key_id is True:
            body["publicKeyId"] = key_entry["publicKeyId"]
        elif public_key_id:
            body["publicKeyId"] = public_key_id
        if authorization_policy is not None:
            body["authorizationPolicy"] = authorization_policy
        return self.post("/auth/ksef-token", json=body)

    def submit_xades(self, signed_xml, *, verify_chain=None):
        params = (
            {}
            if verify_chain is None
            else {"verifyCertificateChain": str(bool(verify_chain)).lower()}
        )
        return self.post(
            "/auth/xades-signature",
            data=signed_xml,
            params=params,
            headers={"Content-Type": "application/xml"},
        )

    def status(self, init):
        """``GET /auth/{ref}`` with the operation token of a 202 answer (JSON)."""
        response = self.get(
            f"/auth/{init['referenceNumber']}", bearer=init["authenticationToken"]["token"]
        )
        assert response.status_code == 200, response.text
        return response.json()

    def redeem(self, init):
        return self.post("/auth/token/redeem", bearer=init["authenticationToken"]["token"])

    def finish(self, init_response):
        """Check a 202, poll once, redeem; return the redeem JSON (asserts success)."""
        assert init_response.status_code == 202, init_response.text
        init = init_response.json()
        status = self.status(init)
        assert status["status"]["code"] == 200, status
        response = self.redeem(init)
        assert response.status_code == 200, response.text
        return response.json()

    def login_with_token(self, token, **kw):
        """The whole KSeF-token flow; returns ``{accessToken, refreshToken}``."""
        return self.finish(self.submit_ksef_token(token, **kw))

    def signed_request(
        self,
        private_key,
        certificate,
        context,
        *,
        challenge=None,
        subject_identifier_type="certificateSubject",
        authorization_policy=None,
    ):
        """A signed ``AuthTokenRequest`` (via :mod:`ksef.xades`) for a fresh or given challenge."""
        from .. import xades
        from ..identifiers import ContextIdentifier

        challenge = challenge or self.challenge()
        if isinstance(context, str):
            context = (
                ContextIdentifier.internal_id(context)
                if "-" in context
                else ContextIdentifier.nip(context)
            )
        xml = xades.build_auth_token_request(
            challenge["challenge"],
            context,
            subject_identifier_type=subject_identifier_type,
            authorization_policy=authorization_policy,
        )
        return xades.sign_auth_token_request(xml, private_key, certificate)

    def login_with_certificate(self, private_key, certificate, context, **kw):
        """The whole XAdES flow; returns ``{accessToken, refreshToken}``."""
        verify_chain = kw.pop("verify_chain", None)
        signed = self.signed_request(private_key, certificate, context, **kw)
        return self.finish(self.submit_xades(signed, verify_chain=verify_chain))

    def create_token(self, access, permissions, description="Token z testu symulatora"):
        """``POST /tokens`` -> JSON ``{referenceNumber, token}`` (asserts 202)."""
        response = self.post(
            "/tokens",
            bearer=access,
            json={"permissions": list(permissions), "description": description},
        )
        assert response.status_code == 202, response.text
        return response.json()


def access_of(tokens):
    """The access-token string of a redeem/refresh answer."""
    return tokens["accessToken"]["token"]


def refresh_of(tokens):
    return tokens["refreshToken"]["token"]
