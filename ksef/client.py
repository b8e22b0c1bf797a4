"""HTTP client of the KSeF API 2.0 (every call of the addon to KSeF goes through it).

Design rules:

* **one choke point** (:meth:`KsefClient._request`): every call has a timeout, every failure
  becomes an exception of :mod:`.errors`, and only ``method path -> status (elapsed)`` is logged;
* **stateless about credentials**: each protected method takes its bearer token as an argument,
  the client stores no token; caching (and encrypting at rest) session tokens is the caller's job;
* **no secret leaves through a side channel**: KSeF tokens, JWTs and the encrypted token never
  appear in log lines, exception messages or reprs; text echoed by KSeF is redacted as well;
* **no sleeping through a rate limit**: a 429 is raised as :class:`.errors.KsefRateLimited`
  with ``retry_after`` for the caller to reschedule;
* **fail closed on odd answers**: a body that is not what the OpenAPI spec promises (garbage JSON,
  a missing field, a wrong type) raises :class:`.errors.KsefServerError`, never ``KeyError``.

Paths, fields and statuses follow ``openapi.json`` of KSeF API 2.6.0.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import email.utils
import json
import logging
import math
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import requests

from .environments import base_url as _resolve_base_url
from .errors import (
    KsefApiError,
    KsefAuthFailed,
    KsefAuthTimeout,
    KsefBadRequest,
    KsefError,
    KsefForbidden,
    KsefGone,
    KsefNotFound,
    KsefRateLimited,
    KsefServerError,
    KsefTransportError,
    KsefUnauthorized,
)
from .models import (
    AccessToken,
    AuthInit,
    AuthSessionInfo,
    AuthStatus,
    AuthTokens,
    Challenge,
    GeneratedToken,
    Identifier,
    PublicKeyCertificate,
    TokenInfo,
    TokenPage,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "KsefClient",
    "KsefTokenFailed",
    "parse_datetime",
]

_logger = logging.getLogger(__name__)

#: (connect, read) seconds, used for every call unless the caller gives another value
DEFAULT_TIMEOUT = (5, 30)
DEFAULT_USER_AGENT = "l10n_pl_ksef_token/18.0 (KSeF API 2.0 client; python-requests)"
#: largest page KSeF serves for ``GET /tokens``, ``GET /auth/sessions`` and permission queries
MAX_PAGE_SIZE = 100
#: safety stop for paging loops (a server repeating ``hasMore`` forever)
MAX_PAGES = 10_000

AUTH_IN_PROGRESS = 100
AUTH_SUCCEEDED = 200
#: 400 code: the ``publicKeyId`` sent is unknown or withdrawn, fetch the certificates again
UNKNOWN_PUBLIC_KEY = 21470

_REFERENCE_RE = re.compile(r"\d{8}-[A-Z]{2}-[0-9A-Z]{10}-[0-9A-Z]{10}-[0-9A-Z]{2}")
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,12}))?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_REDACTIONS = (
    # a JWT (access / refresh / operation token)
    (re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)?"), "[jwt]"),
    # a KSeF 2.0 token secret or a KSeF 1.0 token (64 hex characters)
    (re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])"), "[secret]"),
    # a long base64 blob (an encrypted token is ~344 characters)
    (re.compile(r"[A-Za-z0-9+/]{100,}={0,2}"), "[base64]"),
)


class KsefTokenFailed(KsefError):
    """A KSeF token reached a status from which the awaited one is unreachable.

    ``code`` is ``'token_failed'``; ``status`` is the token's status (``Failed``, ``Revoking``
    or ``Revoked``) and ``details`` its ``statusDetails``.
    """

    def __init__(self, message, *, status, **kw):
        kw.setdefault("code", "token_failed")
        super().__init__(message, **kw)
        self.status = status


# --- small pure helpers -----------------------------------------------------------------------


def parse_datetime(value):
    """Parse an ISO-8601 date-time of a KSeF answer into an aware :class:`datetime`.

    Accepts 0-12 fraction digits (KSeF sends .NET's 7, e.g. ``2025-10-01T13:20:52.9919681+00:00``;
    they are truncated to microseconds), ``Z`` or ``±hh:mm`` / ``±hhmm`` / ``±hh`` offsets; a
    value without an offset is taken as UTC (Python 3.10's ``fromisoformat`` handles neither).

    :param value: the string, or ``None``
    :returns: an aware datetime, or ``None`` for ``None``
    :raises ValueError: the value is not such a date-time
    """
    if value is None:
        return None
    match = _DATETIME_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError("not an ISO-8601 date-time")
    year, month, day, hour, minute = (int(g) for g in match.groups()[:5])
    second = int(match.group(6) or 0)
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    tzinfo = _parse_offset(match.group(8))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tzinfo)


def _parse_offset(text):
    if not text or text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _format_datetime(value):
    """A request date-time: ISO-8601 with milliseconds and an offset (naive = UTC)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        raise TypeError("expected a datetime or an ISO-8601 string")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat(timespec="milliseconds")


def _redact(text, secrets=()):
    """``text`` with the given secrets and anything shaped like a token, JWT or blob masked."""
    if not isinstance(text, str):
        text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _reference_path(reference_number):
    """Quote a reference number for a URL path, refusing anything that is not one.

    The check keeps a pasted KSeF token (or any other secret passed by mistake) out of the URL,
    and therefore out of access logs and of this module's log lines.
    """
    if not isinstance(reference_number, str) or not _REFERENCE_RE.fullmatch(reference_number):
        raise ValueError(
            "not a KSeF reference number (36 characters like 20251010-EC-1DCE3E3000-12ECB5B36E-45)"
        )
    return quote(reference_number, safe="")


def _check_timeout(timeout):
    """Refuse a timeout that would let a call hang: ``None``, or a non-positive part."""
    parts = timeout if isinstance(timeout, tuple) else (timeout,)
    if len(parts) not in (1, 2) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) and p > 0 for p in parts
    ):
        raise ValueError("a KSeF client needs a positive timeout or (connect, read) pair")


def _to_json(value, what):
    """JSON of a ``ContextIdentifier`` / ``Identifier`` / ``AuthorizationPolicy`` or a dict."""
    if isinstance(value, dict):
        return dict(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    raise TypeError(f"{what} must be a dict or an object with to_json()")


def _parse_retry_after(value):
    """Seconds from a ``Retry-After`` header (integer per the spec; HTTP-date tolerated)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0, math.ceil((when - datetime.now(timezone.utc)).total_seconds()))


# --- reading answers --------------------------------------------------------------------------


def _bad_body(where, problem):
    return KsefServerError(
        "KSeF answered with an unexpected body",
        code="bad_response",
        details=[f"{where}: {problem}"],
    )


def _is_kind(value, kind):
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


class _Reader:
    """Typed, fail-closed access to one decoded JSON object of a KSeF answer.

    Every miss raises :class:`KsefServerError` naming the field (never its value).
    """

    __slots__ = ("_data", "_where")

    def __init__(self, data, where):
        if not isinstance(data, dict):
            raise _bad_body(where, "expected a JSON object")
        self._data = data
        self._where = where

    def get(self, key, kind=str, *, required=True, default=None):
        value = self._data.get(key)
        if value is None:
            if required:
                raise _bad_body(self._where, f"missing field {key}")
            return default
        if not _is_kind(value, kind):
            raise _bad_body(self._where, f"field {key} has the wrong type")
        return value

    def obj(self, key, *, required=True):
        value = self.get(key, dict, required=required)
        return None if value is None else _Reader(value, f"{self._where}.{key}")

    def objects(self, key, *, required=True):
        values = self.get(key, list, required=required, default=[])
        return [_Reader(v, f"{self._where}.{key}[{i}]") for i, v in enumerate(values)]

    def strings(self, key, *, required=False):
        values = self.get(key, list, required=required, default=[])
        if not all(isinstance(v, str) for v in values):
            raise _bad_body(self._where, f"field {key} is not a list of strings")
        return tuple(values)

    @property
    def where(self):
        return self._where

    def when(self, key, *, required=True):
        value = self.get(key, str, required=required)
        try:
            return parse_datetime(value)
        except ValueError:
            raise _bad_body(self._where, f"field {key} is not a date-time") from None


def _challenge(r):
    timestamp = r.when("timestamp")
    timestamp_ms = r.get("timestampMs", int, required=False)
    if timestamp_ms is None:  # absent before RC6.1; the same instant in milliseconds
        timestamp_ms = round(timestamp.timestamp() * 1000)
    return Challenge(
        challenge=r.get("challenge"),
        timestamp=timestamp,
        timestamp_ms=timestamp_ms,
        client_ip=r.get("clientIp", required=False),
    )


def _public_key_certificate(r):
    try:
        der = base64.b64decode(r.get("certificate"), validate=True)
    except (binascii.Error, ValueError):
        raise _bad_body(r.where, "field certificate is not base64") from None
    return PublicKeyCertificate(
        certificate_der=der,
        valid_from=r.when("validFrom"),
        valid_to=r.when("validTo"),
        usage=r.strings("usage", required=True),
        certificate_id=r.get("certificateId", required=False),
        public_key_id=r.get("publicKeyId", required=False),
    )


def _auth_init(r):
    token = r.obj("authenticationToken")
    return AuthInit(
        reference_number=r.get("referenceNumber"),
        authentication_token=token.get("token"),
        valid_until=token.when("validUntil", required=False),
    )


def _method_category(r):
    info = r.obj("authenticationMethodInfo", required=False)
    return info.get("category", required=False) if info else None


def _auth_status(r):
    status = r.obj("status")
    return AuthStatus(
        code=status.get("code", int),
        description=status.get("description", required=False),
        details=status.strings("details"),
        start_date=r.when("startDate", required=False),
        authentication_method=r.get("authenticationMethod", required=False),
        is_token_redeemed=r.get("isTokenRedeemed", bool, required=False),
        refresh_token_valid_until=r.when("refreshTokenValidUntil", required=False),
        authentication_method_category=_method_category(r),
        last_token_refresh_date=r.when("lastTokenRefreshDate", required=False),
    )


def _auth_session(r):
    status = r.obj("status", required=False)
    return AuthSessionInfo(
        reference_number=r.get("referenceNumber"),
        is_current=r.get("isCurrent", bool, required=False, default=False),
        start_date=r.when("startDate", required=False),
        authentication_method=r.get("authenticationMethod", required=False),
        status_code=status.get("code", int) if status else None,
        is_token_redeemed=r.get("isTokenRedeemed", bool, required=False),
        last_token_refresh_date=r.when("lastTokenRefreshDate", required=False),
        refresh_token_valid_until=r.when("refreshTokenValidUntil", required=False),
        authentication_method_category=_method_category(r),
        status_description=status.get("description", required=False) if status else None,
    )


def _token_pair(r, key):
    token = r.obj(key)
    return token.get("token"), token.when("validUntil", required=False)


def _identifier(r, key):
    ident = r.obj(key, required=False)
    return Identifier(type=ident.get("type"), value=ident.get("value")) if ident else None


def _token_info(r):
    return TokenInfo(
        reference_number=r.get("referenceNumber"),
        status=r.get("status"),
        description=r.get("description", required=False, default=""),
        requested_permissions=r.strings("requestedPermissions"),
        author_identifier=_identifier(r, "authorIdentifier"),
        context_identifier=_identifier(r, "contextIdentifier"),
        date_created=r.when("dateCreated", required=False),
        last_use_date=r.when("lastUseDate", required=False),
        status_details=r.strings("statusDetails"),
    )


# --- reading errors ---------------------------------------------------------------------------


def _error_triple(code, description, details, secrets):
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    elif not _is_kind(code, int) and not isinstance(code, str):
        code = None
    description = _redact(description, secrets) if description is not None else None
    if isinstance(details, str):
        details = [details]
    if not isinstance(details, list):
        details = []
    return (code, description, tuple(_redact(d, secrets) for d in details if d is not None))


def _api_errors(body, secrets=()):
    """Every ``(code, description, details)`` of an error body, whatever its format.

    Reads the legacy ``exception.exceptionDetailList``, Problem Details ``errors`` (a list of
    ``{code, description, details}``; a validation dict ``{field: [messages]}`` is tolerated)
    and the legacy 429 ``status`` object.
    """
    if not isinstance(body, dict):
        return []
    triples = []
    legacy = body.get("exception")
    if isinstance(legacy, dict) and isinstance(legacy.get("exceptionDetailList"), list):
        for item in legacy["exceptionDetailList"]:
            if isinstance(item, dict):
                triples.append(
                    _error_triple(
                        item.get("exceptionCode"),
                        item.get("exceptionDescription"),
                        item.get("details"),
                        secrets,
                    )
                )
    problems = body.get("errors")
    if isinstance(problems, list):
        for item in problems:
            if isinstance(item, dict):
                triples.append(
                    _error_triple(
                        item.get("code"), item.get("description"), item.get("details"), secrets
                    )
                )
    elif isinstance(problems, dict):
        for field, messages in problems.items():
            triples.append(_error_triple(None, field, messages, secrets))
    status = body.get("status")
    if isinstance(status, dict):
        triples.append(
            _error_triple(
                status.get("code"), status.get("description"), status.get("details"), secrets
            )
        )
    return triples


def _problem_text(body, errors, secrets):
    """The most useful one-line explanation KSeF gave, redacted."""
    for _code, description, _details in errors:
        if description:
            return description
    if isinstance(body, dict):
        for key in ("detail", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return _redact(body[key], secrets)
    return None


def _decode_json(response):
    """The decoded JSON of a response, or ``None`` when the body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _error_for(response, method, path, secrets):
    """The :mod:`.errors` exception for a non-2xx answer, with its ``method`` and ``path``."""
    exc = _error_of(response, method, path, secrets)
    exc.method, exc.path = method, path
    return exc


def _error_of(response, method, path, secrets):
    status = response.status_code
    body = _decode_json(response)
    errors = _api_errors(body, secrets)
    text = _problem_text(body, errors, secrets)
    legacy = body.get("exception") if isinstance(body, dict) else None
    reference = legacy.get("referenceNumber") if isinstance(legacy, dict) else None
    reference = reference if isinstance(reference, str) else None
    if status >= 500 or status < 400:
        message = f"KSeF failed on {method} {path} (HTTP {status})"
        details = [d for e in errors for d in e[2]] or ([text] if text else [])
        code = errors[0][0] if errors else None
        return KsefServerError(
            message, code=code, http_status=status, details=details, reference_number=reference
        )
    message = f"KSeF refused {method} {path} (HTTP {status})"
    if text:
        message = f"{message}: {text}"
    common = {"errors": errors, "http_status": status, "reference_number": reference}
    if status == 403:
        body = body if isinstance(body, dict) else {}
        reason = body.get("reasonCode")
        security = body.get("security")
        return KsefForbidden(
            message,
            reason_code=reason if isinstance(reason, str) else None,
            security=security if isinstance(security, dict) else None,
            code=reason if isinstance(reason, str) and not errors else None,
            **common,
        )
    if status == 429:
        retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        return KsefRateLimited(message, retry_after=retry_after, **common)
    cls = {400: KsefBadRequest, 401: KsefUnauthorized, 404: KsefNotFound, 410: KsefGone}
    return cls.get(status, KsefApiError)(message, **common)


def _encode_body(json_body, xml_body):
    """``(bytes or None, content type or None)`` of a request body."""
    if json_body is not None:
        return json.dumps(json_body, ensure_ascii=False).encode("utf-8"), "application/json"
    if xml_body is not None:
        return xml_body, "application/xml"
    return None, None


def _log_response(method, path, response, started, ok):
    """One line per answer: method, path, status, elapsed (never headers or bodies)."""
    elapsed_ms = (time.monotonic() - started) * 1000
    level = logging.DEBUG if ok else logging.INFO
    _logger.log(level, "KSeF %s %s -> %s (%.0f ms)", method, path, response.status_code, elapsed_ms)
    warning = response.headers.get("X-System-Warning")
    if warning:
        _logger.warning("KSeF system warning on %s %s: %s", method, path, _redact(warning))


# --- the client -------------------------------------------------------------------------------


class KsefClient:
    """Client of the KSeF API 2.0 for one environment.

    :param base_url_or_env: ``'test'``, ``'demo'``, ``'prod'`` or an explicit base URL ending
        in ``/v2`` (e.g. a local simulator)
    :param timeout: ``(connect, read)`` seconds or one number, applied to every call; ``None``
        (or a ``None`` part) is refused so that no call can hang forever
    :param session: a :class:`requests.Session` to send through (connection reuse, or an
        in-process simulator adapter); by default the client creates and owns one
    :param problem_details: ask KSeF for RFC 7807 error bodies (``X-Error-Format:
        problem-details``); both formats are read either way
    :param user_agent: the ``User-Agent`` header value
    :raises ValueError: unknown environment or a missing timeout
    """

    def __init__(
        self,
        base_url_or_env,
        *,
        timeout=DEFAULT_TIMEOUT,
        session=None,
        problem_details=False,
        user_agent=None,
    ):
        _check_timeout(timeout)
        self.base_url = _resolve_base_url(base_url_or_env)
        self.timeout = timeout
        self.problem_details = bool(problem_details)
        self.user_agent = user_agent or DEFAULT_USER_AGENT
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self._certificates = None
        self._certificates_lock = threading.Lock()

    def __repr__(self):
        return f"<KsefClient {self.base_url}>"

    def close(self):
        """Close the HTTP session if the client created it (a caller's session is left open)."""
        if self._owns_session:
            self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- the choke point ----------------------------------------------------------------

    def _request(
        self,
        method,
        path,
        *,
        bearer=None,
        json_body=None,
        xml_body=None,
        params=None,
        headers=None,
        secrets=(),
    ):
        """Send one request and return the 2xx :class:`requests.Response`.

        :param path: the endpoint path after the base URL (reference numbers already quoted)
        :param bearer: the token for ``Authorization: Bearer``
        :param secrets: extra secret strings of this call, masked in any error text
        :raises KsefTransportError: timeout or connection failure
        :raises KsefApiError: a 4xx answer (the subclass matching the status)
        :raises KsefServerError: a 5xx, 1xx or 3xx answer
        """
        data, content_type = _encode_body(json_body, xml_body)
        request_headers = self._headers(bearer, content_type, headers)
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                data=data,
                headers=request_headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise self._transport_error(method, path, started, "timeout", exc) from None
        except requests.RequestException as exc:
            raise self._transport_error(method, path, started, "connection", exc) from None
        ok = 200 <= response.status_code < 300
        _log_response(method, path, response, started, ok)
        if not ok:
            raise _error_for(response, method, path, (bearer, *secrets))
        return response

    def _headers(self, bearer, content_type, extra):
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self.problem_details:
            headers["X-Error-Format"] = "problem-details"
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if content_type:
            headers["Content-Type"] = content_type
        headers.update(extra or {})
        return headers

    @staticmethod
    def _transport_error(method, path, started, kind, exc):
        elapsed_ms = (time.monotonic() - started) * 1000
        _logger.warning(
            "KSeF %s %s -> %s after %.0f ms (%s)",
            method,
            path,
            kind,
            elapsed_ms,
            type(exc).__name__,
        )
        what = "did not answer in time" if kind == "timeout" else "could not be reached"
        return KsefTransportError(
            f"KSeF {what} on {method} {path} ({type(exc).__name__})", kind=kind
        )

    def _call(self, method, path, where, **kw):
        """:meth:`_request` and decode the JSON answer (fail-closed)."""
        response = self._request(method, path, **kw)
        data = _decode_json(response)
        if data is None:
            raise _bad_body(where, "not JSON")
        return data

    def _call_object(self, method, path, where, **kw):
        return _Reader(self._call(method, path, where, **kw), where)

    # --- public endpoints ---------------------------------------------------------------

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

    # --- KSeF tokens --------------------------------------------------------------------

    def generate_token(self, access_token, permissions, description):
        """``POST /tokens``: generate a KSeF token in the current (Nip/InternalId) context.

        The token string is returned only this once; the token starts ``Pending``
        (see :meth:`wait_for_token_status`).

        :param access_token: an access token of a session allowed to create tokens
        :param permissions: token permission names (``InvoiceRead``, ``InvoiceWrite``, ...)
        :param description: 5-256 characters
        :returns: :class:`GeneratedToken`
        :raises KsefBadRequest: 26001 permissions the author lacks, 26002 context type, 21405
        :raises KsefError: other transport, API or unexpected-body errors
        """
        body = {"permissions": list(permissions), "description": description}
        r = self._call_object(
            "POST", "/tokens", "generate-token", bearer=access_token, json_body=body
        )
        return GeneratedToken(reference_number=r.get("referenceNumber"), token=r.get("token"))

    def list_tokens(
        self,
        access_token,
        *,
        statuses=None,
        description=None,
        author_identifier=None,
        author_identifier_type=None,
        page_size=MAX_PAGE_SIZE,
        continuation_token=None,
    ):
        """``GET /tokens``: one page of the tokens visible to the caller (newest first).

        :param access_token: an access token
        :param statuses: status names to keep (``Pending``, ``Active``, ``Revoking``,
            ``Revoked``, ``Failed``); ``None`` for all
        :param description: case-insensitive "contains" filter (>= 3 characters)
        :param author_identifier: case-insensitive "contains" filter (>= 3 characters)
        :param author_identifier_type: ``Nip``, ``Pesel`` or ``Fingerprint``
        :param page_size: 10-100
        :param continuation_token: the previous page's token; ``None`` for the first page
        :returns: :class:`TokenPage` (``continuation_token`` ``None`` on the last page)
        :raises KsefBadRequest: 21418 bad continuation token, 21405 bad filter
        :raises KsefError: other transport, API or unexpected-body errors
        """
        if isinstance(statuses, str):
            statuses = [statuses]
        params = {
            "status": list(statuses) if statuses else None,
            "description": description,
            "authorIdentifier": author_identifier,
            "authorIdentifierType": author_identifier_type,
            "pageSize": page_size,
        }
        params = {k: v for k, v in params.items() if v is not None}
        headers = {"x-continuation-token": continuation_token} if continuation_token else None
        r = self._call_object(
            "GET", "/tokens", "tokens", bearer=access_token, params=params, headers=headers
        )
        return TokenPage(
            items=tuple(_token_info(item) for item in r.objects("tokens")),
            continuation_token=r.get("continuationToken", required=False) or None,
        )

    def iter_tokens(self, access_token, **filters):
        """Every token :meth:`list_tokens` shows, following ``continuationToken``.

        With the default ``page_size`` of 100 this makes ``ceil(N / 100)`` calls for N tokens
        (at least one).

        :param access_token: an access token
        :param filters: keyword arguments of :meth:`list_tokens`
        :returns: an iterator of :class:`TokenInfo`
        :raises KsefServerError: KSeF repeats a continuation token (a paging loop)
        :raises KsefError: as :meth:`list_tokens`
        """
        filters.setdefault("page_size", MAX_PAGE_SIZE)
        continuation = filters.pop("continuation_token", None)
        seen = set()
        while True:
            page = self.list_tokens(access_token, continuation_token=continuation, **filters)
            yield from page.items
            continuation = page.continuation_token
            if not continuation:
                return
            if continuation in seen:
                raise KsefServerError("KSeF repeated a continuation token", code="paging_loop")
            seen.add(continuation)

    def get_token(self, access_token, reference_number):
        """``GET /tokens/{referenceNumber}``: one token's metadata and status.

        A session authenticated with a token may always read that token.

        :returns: :class:`TokenInfo`
        :raises KsefNotFound / KsefForbidden: unknown or invisible to the caller
        :raises KsefError: other transport, API or unexpected-body errors
        """
        path = f"/tokens/{_reference_path(reference_number)}"
        return _token_info(self._call_object("GET", path, "token", bearer=access_token))

    def revoke_token(self, access_token, reference_number):
        """``DELETE /tokens/{referenceNumber}``: revoke a token (asynchronous: ``Revoking`` ->
        ``Revoked``; poll with :meth:`wait_for_token_status` when certainty is needed).

        Without ``CredentialsManage`` a token session may revoke only its own token.

        :raises KsefForbidden / KsefBadRequest / KsefNotFound: refused
        :raises KsefError: other transport or API errors
        """
        path = f"/tokens/{_reference_path(reference_number)}"
        self._request("DELETE", path, bearer=access_token)

    def wait_for_token_status(
        self,
        access_token,
        reference_number,
        statuses=("Active",),
        *,
        poll_interval=1.0,
        timeout=60.0,
        sleep=time.sleep,
    ):
        """Poll :meth:`get_token` until the token reaches one of ``statuses``.

        :param statuses: the awaited status names
        :param poll_interval: seconds between polls
        :param timeout: seconds to wait at most (counted both by the clock and by the sleeps,
            so a fake ``sleep`` in tests ends the wait too)
        :param sleep: the sleep function
        :returns: :class:`TokenInfo` in one of ``statuses``
        :raises KsefTokenFailed: the token is ``Failed``, or revoked while waiting for another
            status
        :raises KsefAuthTimeout: still not there after ``timeout`` (``code`` is
            ``'token_status_timeout'``)
        :raises KsefError: as :meth:`get_token`
        """
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)

        def check():
            info = self.get_token(access_token, reference_number)
            if info.status in wanted:
                return info
            if _unreachable(info.status, wanted):
                raise KsefTokenFailed(
                    f"KSeF token {reference_number} is {info.status}",
                    status=info.status,
                    details=info.status_details,
                    reference_number=reference_number,
                )
            return None

        info = _poll_until(check, interval=poll_interval, timeout=timeout, sleep=sleep)
        if info is None:
            raise KsefAuthTimeout(
                f"KSeF token {reference_number} did not reach {'/'.join(sorted(wanted))} "
                f"in {timeout:g} s",
                code="token_status_timeout",
                reference_number=reference_number,
            )
        return info

    # --- permissions and invoices -------------------------------------------------------

    def query_personal_grants(self, access_token, *, context=None):
        """``POST /permissions/query/personal/grants``: the caller's own active permissions.

        Follows ``hasMore`` (``pageOffset`` 0, 1, ... at page size 100). KSeF also lists
        invoice permissions other subjects granted to the context; give ``context`` to keep
        only the permissions held in that context (entries naming another context are dropped).

        :param access_token: an access token
        :param context: optional current context (``ContextIdentifier``/``Identifier``/dict)
        :returns: sorted unique permission names (``permissionScope``), e.g.
            ``['CredentialsManage', 'InvoiceRead', 'InvoiceWrite']``
        :raises KsefError: transport, API or unexpected-body errors
        """
        wanted = _to_json(context, "context") if context is not None else None
        names = set()
        for offset in range(MAX_PAGES):
            r = self._call_object(
                "POST",
                "/permissions/query/personal/grants",
                "personal-grants",
                bearer=access_token,
                json_body={"permissionState": "Active"},
                params={"pageOffset": offset, "pageSize": MAX_PAGE_SIZE},
            )
            for item in r.objects("permissions"):
                if _grant_applies(item, wanted):
                    names.add(item.get("permissionScope"))
            if not r.get("hasMore", bool, required=False, default=False):
                break
        return sorted(names)

    # --- limits ---------------------------------------------------------------------------

    def get_rate_limits(self, access_token):
        """``GET /rate-limits``: the rate limits in force for the current context.

        Accepts both shapes KSeF has served: API 2.6 (12 groups) and 2.8 (adds
        ``onlineSessionClose``, ``batchSessionClose``, ``collectiveIdentifier``, ``anonymous``
        and ``global``); a group KSeF does not report is simply absent.

        :returns: ``{group: (per_second, per_minute, per_hour)}``, ``None`` for a window
            without a limit (KSeF reports ``-1``)
        :raises KsefError: transport, API or unexpected-body errors
        """
        r = self._call_object("GET", "/rate-limits", "rate-limits", bearer=access_token)
        limits = {}
        for group in sorted(r._data):
            values = r.obj(group)
            limits[group] = tuple(
                None if values.get(key, int) < 0 else values.get(key, int)
                for key in ("perSecond", "perMinute", "perHour")
            )
        return limits

    def get_context_limits(self, access_token):
        """``GET /limits/context``: session limits of the current context.

        :returns: ``{'onlineSession': {...}, 'batchSession': {...}, 'collectiveIdentifier':
            {...}}`` as KSeF sends them (``collectiveIdentifier`` only since API 2.8)
        :raises KsefError: transport, API or unexpected-body errors
        """
        r = self._call_object("GET", "/limits/context", "context-limits", bearer=access_token)
        out = {}
        for group in ("onlineSession", "batchSession", "collectiveIdentifier"):
            values = r.obj(group, required=group != "collectiveIdentifier")
            if values is not None:
                out[group] = {key: values.get(key, int) for key in sorted(values._data)}
        return out

    def get_subject_limits(self, access_token):
        """``GET /limits/subject``: certificate limits of the authenticated subject.

        :returns: ``{'enrollment': {'maxEnrollments': n}, 'certificate': {...}}`` (each
            optional, as in the spec)
        :raises KsefError: transport, API or unexpected-body errors
        """
        r = self._call_object("GET", "/limits/subject", "subject-limits", bearer=access_token)
        out = {}
        for group in ("enrollment", "certificate"):
            values = r.obj(group, required=False)
            if values is not None:
                out[group] = {key: values.get(key, int) for key in sorted(values._data)}
        return out

    def grant_subunit_administrator(
        self, access_token, subunit, subject, description, *, subunit_name=None
    ):
        """``POST /permissions/subunits/grants``: appoint the administrator of a subunit
        (a branch's ``InternalId``); KSeF gives them ``CredentialsManage`` there.

        :param subunit: the subunit's context (``ContextIdentifier``/``Identifier``/dict)
        :param subject: who becomes administrator (``{'type': 'Pesel'|'Nip'|'Fingerprint',
            'value': ...}`` or an ``Identifier``)
        :param description: 5-256 characters
        :param subunit_name: optional name of the subunit (5-256 characters)
        :returns: the permission operation's reference number (``GET
            /permissions/operations/{ref}`` reports its end)
        :raises KsefForbidden: the session lacks ``SubunitManage``
        :raises KsefBadRequest: 21405 (e.g. a wrong InternalId check digit)
        """
        body = {
            "subjectIdentifier": _to_json(subject, "subject"),
            "contextIdentifier": _to_json(subunit, "subunit"),
            "description": description,
            "subjectDetails": {"subjectDetailsType": "PersonByIdentifier"},
        }
        if subunit_name:
            body["subunitName"] = subunit_name
        r = self._call_object(
            "POST",
            "/permissions/subunits/grants",
            "subunit-grant",
            bearer=access_token,
            json_body=body,
        )
        return r.get("referenceNumber")

    def query_invoice_metadata(
        self,
        access_token,
        *,
        subject_type,
        date_from,
        date_to,
        date_type="PermanentStorage",
        page_offset=0,
        page_size=100,
        sort_order="Asc",
    ):
        """``POST /invoices/query/metadata``: one page of invoice metadata.

        :param access_token: an access token with ``InvoiceRead``
        :param subject_type: ``Subject1`` (seller), ``Subject2`` (buyer), ``Subject3``,
            ``SubjectAuthorized``
        :param date_from: start of the range (datetime, naive = UTC, or ISO string)
        :param date_to: end of the range (at most 3 months after ``date_from``) or ``None``
        :param date_type: ``Issue``, ``Invoicing`` or ``PermanentStorage``
        :param page_offset: page index, from 0
        :param page_size: 10-250
        :param sort_order: ``Asc`` or ``Desc``
        :returns: ``(invoices as dicts, has_more, is_truncated)``
        :raises KsefError: transport, API or unexpected-body errors
        """
        date_range = {"dateType": date_type, "from": _format_datetime(date_from)}
        if date_to is not None:
            date_range["to"] = _format_datetime(date_to)
        params = {"sortOrder": sort_order, "pageOffset": page_offset, "pageSize": page_size}
        r = self._call_object(
            "POST",
            "/invoices/query/metadata",
            "invoice-metadata",
            bearer=access_token,
            params=params,
            json_body={"subjectType": subject_type, "dateRange": date_range},
        )
        invoices = r.get("invoices", list)
        if not all(isinstance(item, dict) for item in invoices):
            raise _bad_body("invoice-metadata", "field invoices is not a list of objects")
        return invoices, r.get("hasMore", bool), r.get("isTruncated", bool)

    # --- high level flows ---------------------------------------------------------------

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


# --- polling and filtering helpers ------------------------------------------------------------


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


def _unreachable(status, wanted):
    """Whether a token in ``status`` can no longer reach any of ``wanted``."""
    if status == "Failed":
        return True
    if status in ("Revoking", "Revoked"):
        return not wanted & {"Revoking", "Revoked"}
    return False


def _grant_applies(item, wanted_context):
    """An active personal permission held in ``wanted_context`` (any context when ``None``)."""
    if item.get("permissionState", required=False) not in (None, "Active"):
        return False
    if wanted_context is None:
        return True
    context = item.obj("contextIdentifier", required=False)
    if context is None:
        return True
    return (context.get("type"), context.get("value")) == (
        wanted_context.get("type"),
        wanted_context.get("value"),
    )
