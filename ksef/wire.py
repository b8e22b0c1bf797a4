"""The KSeF API 2.0 wire format: request values, answers read into :mod:`.models`, error bodies.

* :func:`parse_datetime` and :func:`_format_datetime`: KSeF's ISO-8601 date-times;
* :class:`_Reader`: typed, fail-closed access to a decoded JSON answer (a missing field or a
  wrong type raises :class:`.errors.KsefServerError`, never ``KeyError``);
* ``_challenge``, ``_auth_status``, ``_token_info``, ...: one answer object -> one model;
* :func:`_error_for`: the :mod:`.errors` exception of a non-2xx answer, whatever error format
  KSeF used, with secrets redacted (:func:`_redact`).

Nothing here sends a request; :mod:`.client` does.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import math
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from .errors import (
    KsefApiError,
    KsefBadRequest,
    KsefForbidden,
    KsefGone,
    KsefNotFound,
    KsefRateLimited,
    KsefServerError,
    KsefUnauthorized,
)
from .models import (
    AuthInit,
    AuthSessionInfo,
    AuthStatus,
    Challenge,
    Identifier,
    PublicKeyCertificate,
    TokenInfo,
)

__all__ = ["parse_datetime"]

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


# --- request values and dates --------------------------------------------------------------


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
