"""Authentication against KSeF API 2.0 (REFERENCE 2.2, 2.3), mixed into :class:`.KsefClient`.

* the endpoints: challenge, MF public-key certificates, ``/auth/ksef-token``,
  ``/auth/xades-signature``, the operation status, redeeming and refreshing tokens, and the
  context's authentication sessions;
* the flows built on them: :meth:`~KsefAuthFlows.authenticate_with_ksef_token`,
  :meth:`~KsefAuthFlows.authenticate_with_xades`,
  :meth:`~KsefAuthFlows.authenticate_with_certificate` (challenge, submit, poll, redeem);
* :func:`_poll_until`, the polling loop shared with the token-status wait.

The mixin sends everything through the client's choke point (``_request`` / ``_call`` /
``_call_object``) and uses its certificate cache (``_certificates``, ``_certificates_lock``).
"""

from __future__ import annotations

import dataclasses
import logging
import time

from .errors import KsefAuthFailed, KsefAuthTimeout, KsefBadRequest
from .models import AccessToken, AuthTokens
from .wire import (
    _auth_init,
    _auth_session,
    _auth_status,
    _bad_body,
    _challenge,
    _public_key_certificate,
    _Reader,
    _reference_path,
    _to_json,
    _token_pair,
)

# the client's logger, as before these flows left client.py: one logger for the whole client
_logger = logging.getLogger(__name__.rpartition(".")[0] + ".client")

AUTH_IN_PROGRESS = 100
AUTH_SUCCEEDED = 200
#: 400 code: the ``publicKeyId`` sent is unknown or withdrawn, fetch the certificates again
UNKNOWN_PUBLIC_KEY = 21470


class KsefAuthFlows:
    """The authentication endpoints and flows of :class:`.KsefClient`."""

    def get_challenge(self):
        """``POST /auth/challenge``: a fresh challenge (valid 10 minutes, single use).

        :returns: :class:`Challenge` with ``timestamp_ms`` for token encryption
        :raises KsefError: transport, API or unexpected-body errors
        """
        return _challenge(self._call_object("POST", "/auth/challenge", "challenge"))

    def get_public_key_certificates(self, *, refresh=False):
        """``GET /security/public-key-certificates``: MF encryption certificates.

        The list is cached on the client instance; pass ``refresh=True`` to fetch it again
        (KSeF answered 21470, or a long-lived client wants fresh keys).

        :returns: list of :class:`PublicKeyCertificate`
        :raises KsefError: transport, API or unexpected-body errors
        """
        with self._certificates_lock:
            if self._certificates is None or refresh:
                data = self._call("GET", "/security/public-key-certificates", "certificates")
                if not isinstance(data, list):
                    raise _bad_body("certificates", "expected a JSON array")
                self._certificates = [
                    _public_key_certificate(_Reader(item, f"certificates[{i}]"))
                    for i, item in enumerate(data)
                ]
            return list(self._certificates)

    # --- authentication -----------------------------------------------------------------

    def submit_xades_signature(self, signed_xml, *, verify_certificate_chain=None):
        """``POST /auth/xades-signature``: start authenticating with a signed AuthTokenRequest.

        :param signed_xml: the XAdES-signed ``AuthTokenRequest`` (bytes; str is UTF-8 encoded)
        :param verify_certificate_chain: ``True``/``False`` sends ``verifyCertificateChain``
            (forces OCSP/CRL checks on TEST); ``None`` leaves KSeF's default
        :returns: :class:`AuthInit` (reference number and operation token)
        :raises KsefBadRequest: e.g. 21111 bad challenge, 21115 certificate, 9105 signature
        :raises KsefError: other transport, API or unexpected-body errors
        """
        if isinstance(signed_xml, str):
            signed_xml = signed_xml.encode("utf-8")
        params = None
        if verify_certificate_chain is not None:
            params = {"verifyCertificateChain": "true" if verify_certificate_chain else "false"}
        return _auth_init(
            self._call_object(
                "POST", "/auth/xades-signature", "auth-init", xml_body=signed_xml, params=params
            )
        )

    def submit_ksef_token(self, challenge, context, token, *, authorization_policy=None):
        """``POST /auth/ksef-token``: start authenticating with a KSeF token.

        Encrypts ``token|challenge.timestamp_ms`` (RSA-OAEP SHA-256) with the current
        ``KsefTokenEncryption`` certificate and sends its ``publicKeyId``. If KSeF answers 400
        21470 (key unknown or withdrawn) the certificates are fetched again and the call is
        repeated once, with the same challenge.

        :param challenge: the :class:`Challenge` from :meth:`get_challenge`
        :param context: the context (``ContextIdentifier``, ``Identifier`` or ``{type, value}``)
        :param token: the full KSeF token string (``ref|context|secret``)
        :param authorization_policy: optional ``AuthorizationPolicy`` (or its JSON dict)
        :returns: :class:`AuthInit`
        :raises KsefBadRequest: e.g. 21111 bad challenge, 21405 validation
        :raises KsefCryptoError: no usable encryption certificate
        :raises KsefError: other transport, API or unexpected-body errors
        """
        try:
            return self._submit_ksef_token_once(
                challenge, context, token, authorization_policy, refresh=False
            )
        except KsefBadRequest as exc:
            if UNKNOWN_PUBLIC_KEY not in exc.codes:
                raise
            _logger.info("KSeF refused the token encryption key (21470); refetching certificates")
        return self._submit_ksef_token_once(
            challenge, context, token, authorization_policy, refresh=True
        )

    def _submit_ksef_token_once(self, challenge, context, token, authorization_policy, *, refresh):
        from . import crypto

        certificates = self.get_public_key_certificates(refresh=refresh)
        certificate = crypto.select_token_encryption_certificate(certificates)
        encrypted = crypto.encrypt_ksef_token(token, challenge.timestamp_ms, certificate)
        body = {
            "challenge": challenge.challenge,
            "contextIdentifier": _to_json(context, "context"),
            "encryptedToken": encrypted,
        }
        if certificate.public_key_id:
            body["publicKeyId"] = certificate.public_key_id
        if authorization_policy:
            body["authorizationPolicy"] = _to_json(authorization_policy, "authorization_policy")
        return _auth_init(
            self._call_object(
                "POST", "/auth/ksef-token", "auth-init", json_body=body, secrets=(token, encrypted)
            )
        )

    def get_auth_status(self, reference_number, authentication_token):
        """``GET /auth/{referenceNumber}``: the status of an authentication operation.

        :param reference_number: the ``…-AU-…`` number from :class:`AuthInit`
        :param authentication_token: the operation token from :class:`AuthInit`
        :returns: :class:`AuthStatus` (``code`` 100 in progress, 200 done, else failed)
        :raises KsefGone: the status is past its 7-day retention
        :raises KsefError: other transport, API or unexpected-body errors
        """
        path = f"/auth/{_reference_path(reference_number)}"
        return _auth_status(
            self._call_object("GET", path, "auth-status", bearer=authentication_token)
        )

    def redeem_token(self, authentication_token):
        """``POST /auth/token/redeem``: exchange a finished operation for access/refresh tokens.

        Works once per authentication; a second call is refused with 21301.

        :param authentication_token: the operation token from :class:`AuthInit`
        :returns: :class:`AuthTokens` (``reference_number`` is ``None`` here)
        :raises KsefBadRequest: 21301 already redeemed / not allowed, 21304 not found
        :raises KsefError: other transport, API or unexpected-body errors
        """
        r = self._call_object("POST", "/auth/token/redeem", "redeem", bearer=authentication_token)
        access, access_until = _token_pair(r, "accessToken")
        refresh, refresh_until = _token_pair(r, "refreshToken")
        return AuthTokens(
            access_token=access,
            access_valid_until=access_until,
            refresh_token=refresh,
            refresh_valid_until=refresh_until,
        )

    def refresh_access_token(self, refresh_token):
        """``POST /auth/token/refresh``: a new access token for an authentication session.

        :param refresh_token: the session's refresh token
        :returns: :class:`AccessToken`
        :raises KsefBadRequest: 21301 (session or the KSeF token behind it revoked), 21304
        :raises KsefError: other transport, API or unexpected-body errors
        """
        r = self._call_object("POST", "/auth/token/refresh", "refresh", bearer=refresh_token)
        token, valid_until = _token_pair(r, "accessToken")
        return AccessToken(token=token, valid_until=valid_until)

    def list_auth_sessions(self, access_token, *, page_size=None, continuation_token=None):
        """``GET /auth/sessions``: one page of the context's active authentication sessions.

        :param access_token: an access token
        :param page_size: 10-100 (KSeF's default 10 when ``None``)
        :param continuation_token: the previous page's token; ``None`` for the first page
        :returns: ``(list of AuthSessionInfo, next continuation token or None)``
        :raises KsefBadRequest: 21418 bad continuation token
        :raises KsefError: other transport, API or unexpected-body errors
        """
        params = {"pageSize": page_size} if page_size is not None else None
        headers = {"x-continuation-token": continuation_token} if continuation_token else None
        r = self._call_object(
            "GET",
            "/auth/sessions",
            "auth-sessions",
            bearer=access_token,
            params=params,
            headers=headers,
        )
        items = [_auth_session(item) for item in r.objects("items")]
        return items, r.get("continuationToken", required=False) or None

    def revoke_current_session(self, token):
        """``DELETE /auth/sessions/current``: end the session the token belongs to.

        Its refresh token stops working; issued access tokens live until they expire.

        :param token: the session's access token or refresh token
        :raises KsefError: transport or API errors
        """
        self._request("DELETE", "/auth/sessions/current", bearer=token)

    def revoke_auth_session(self, access_token, reference_number):
        """``DELETE /auth/sessions/{referenceNumber}``: end another session of the context.

        :param access_token: an access token
        :param reference_number: the session's ``…-AU-…`` number (from :meth:`list_auth_sessions`)
        :raises KsefError: transport or API errors
        """
        path = f"/auth/sessions/{_reference_path(reference_number)}"
        self._request("DELETE", path, bearer=access_token)

    def authenticate_with_ksef_token(
        self,
        token,
        *,
        context=None,
        authorization_policy=None,
        poll_interval=1.0,
        poll_timeout=120.0,
        sleep=time.sleep,
    ):
        """Full KSeF-token authentication: challenge, submit, poll the status, redeem.

        :param token: the full KSeF token string as pasted (whitespace is trimmed), or a
            ``tokens.ParsedToken``
        :param context: the context to act in; default the token's own context
        :param authorization_policy: optional ``AuthorizationPolicy`` (IP restrictions)
        :param poll_interval: seconds between status polls
        :param poll_timeout: seconds to wait for status 200 at most
        :param sleep: the sleep function (tests pass a fake)
        :returns: :class:`AuthTokens` with ``reference_number`` of the operation
        :raises KsefTokenFormatError: the string is not a KSeF 2.0 token
        :raises KsefAuthFailed: the operation ended with a status other than 200 (450: the
            token is revoked, inactive, invalid or for another context)
        :raises KsefAuthTimeout: still in progress after ``poll_timeout``
        :raises KsefError: transport, API or unexpected-body errors
        """
        from . import tokens

        # KSeF issued the token: only its shape matters here (the official example even has
        # an InternalId whose check digit is wrong); strict checks belong to the import UI.
        if isinstance(token, tokens.ParsedToken):
            parsed = token
        else:
            parsed = tokens.parse_token(token, verify_checksums=False)
        if context is None:
            context = parsed.context
        challenge = self.get_challenge()
        init = self.submit_ksef_token(
            challenge, context, parsed.token, authorization_policy=authorization_policy
        )
        return self._finish_authentication(init, poll_interval, poll_timeout, sleep)

    def prepare_auth_request(
        self, context, *, subject_identifier_type="certificateSubject", authorization_policy=None
    ):
        """Fetch a challenge and build the unsigned ``AuthTokenRequest`` for signing elsewhere.

        :param context: the context to authenticate into
        :param subject_identifier_type: ``certificateSubject`` or ``certificateFingerprint``
        :param authorization_policy: optional ``AuthorizationPolicy``
        :returns: ``(Challenge, unsigned XML bytes)``; sign it within 10 minutes and pass it to
            :meth:`authenticate_with_xades`
        :raises KsefError: transport, API or unexpected-body errors; XML building errors
        """
        from . import xades

        challenge = self.get_challenge()
        xml = xades.build_auth_token_request(
            challenge.challenge,
            context,
            subject_identifier_type=subject_identifier_type,
            authorization_policy=authorization_policy,
        )
        return challenge, xml

    def authenticate_with_xades(
        self,
        signed_xml,
        *,
        verify_certificate_chain=None,
        poll_interval=1.0,
        poll_timeout=120.0,
        sleep=time.sleep,
    ):
        """Finish a XAdES authentication: submit the signed request, poll, redeem.

        :param signed_xml: the signed ``AuthTokenRequest``
        :param verify_certificate_chain: see :meth:`submit_xades_signature`
        :param poll_interval: seconds between status polls
        :param poll_timeout: seconds to wait for status 200 at most
        :param sleep: the sleep function
        :returns: :class:`AuthTokens`
        :raises KsefAuthFailed: the operation ended with a status other than 200 (415 no
            permissions, 460 certificate, ...)
        :raises KsefAuthTimeout: still in progress after ``poll_timeout``
        :raises KsefError: transport, API or unexpected-body errors
        """
        init = self.submit_xades_signature(
            signed_xml, verify_certificate_chain=verify_certificate_chain
        )
        return self._finish_authentication(init, poll_interval, poll_timeout, sleep)

    def authenticate_with_certificate(
        self,
        context,
        private_key,
        certificate,
        *,
        subject_identifier_type="certificateSubject",
        authorization_policy=None,
        verify_certificate_chain=None,
        poll_interval=1.0,
        poll_timeout=120.0,
        sleep=time.sleep,
    ):
        """Authenticate with a certificate and its private key (XAdES signed locally).

        :param context: the context to authenticate into
        :param private_key: the ``cryptography`` private key (RSA >= 2048 or EC P-256)
        :param certificate: its ``cryptography`` X.509 certificate
        :param subject_identifier_type: ``certificateSubject`` or ``certificateFingerprint``
        :param authorization_policy: optional ``AuthorizationPolicy``
        :returns: :class:`AuthTokens`
        :raises: as :meth:`prepare_auth_request` and :meth:`authenticate_with_xades`
        """
        from . import xades

        _challenge_, xml = self.prepare_auth_request(
            context,
            subject_identifier_type=subject_identifier_type,
            authorization_policy=authorization_policy,
        )
        signed = xades.sign_auth_token_request(xml, private_key, certificate)
        return self.authenticate_with_xades(
            signed,
            verify_certificate_chain=verify_certificate_chain,
            poll_interval=poll_interval,
            poll_timeout=poll_timeout,
            sleep=sleep,
        )

    def wait_for_authentication(self, init, *, poll_interval=1.0, timeout=120.0, sleep=time.sleep):
        """Poll :meth:`get_auth_status` until the operation leaves status 100.

        :param init: the :class:`AuthInit` of the operation
        :returns: the final :class:`AuthStatus` (code 200)
        :raises KsefAuthFailed: any final status other than 200
        :raises KsefAuthTimeout: still 100 after ``timeout``
        :raises KsefError: as :meth:`get_auth_status`
        """
        reference = init.reference_number

        def check():
            status = self.get_auth_status(reference, init.authentication_token)
            if status.code == AUTH_IN_PROGRESS:
                return None
            if status.code == AUTH_SUCCEEDED:
                return status
            text = f": {status.description}" if status.description else ""
            raise KsefAuthFailed(
                f"KSeF authentication {reference} ended with status {status.code}{text}",
                status_code=status.code,
                description=status.description,
                details=status.details,
                reference_number=reference,
            )

        status = _poll_until(check, interval=poll_interval, timeout=timeout, sleep=sleep)
        if status is None:
            raise KsefAuthTimeout(
                f"KSeF authentication {reference} still in progress after {timeout:g} s",
                code="auth_timeout",
                reference_number=reference,
            )
        return status

    def _finish_authentication(self, init, poll_interval, poll_timeout, sleep):
        self.wait_for_authentication(
            init, poll_interval=poll_interval, timeout=poll_timeout, sleep=sleep
        )
        tokens = self.redeem_token(init.authentication_token)
        return dataclasses.replace(tokens, reference_number=init.reference_number)


def _poll_until(check, *, interval, timeout, sleep):
    """Call ``check()`` until it returns something other than ``None``.

    :returns: that value, or ``None`` once ``timeout`` seconds have passed by the monotonic
        clock or by the sum of the sleeps (whichever comes first)
    """
    deadline = time.monotonic() + timeout
    waited = 0.0
    while True:
        result = check()
        if result is not None:
            return result
        if waited >= timeout or time.monotonic() >= deadline:
            return None
        sleep(interval)
        waited += interval
