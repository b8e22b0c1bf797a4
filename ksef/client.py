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

Layout: this module holds :class:`KsefClient` (the choke point, the token, permission, limit
and invoice endpoints); the authentication endpoints and flows are its mixin
:class:`.auth_flows.KsefAuthFlows`, the KSeF-certificate endpoints its mixin
:class:`.certificates.KsefCertificateEndpoints`; reading answers and error bodies is :mod:`.wire`.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import requests

from .auth_flows import (
    AUTH_IN_PROGRESS,
    AUTH_SUCCEEDED,
    UNKNOWN_PUBLIC_KEY,
    KsefAuthFlows,
    _poll_until,
)
from .certificates import KsefCertificateEndpoints
from .environments import base_url as _resolve_base_url
from .errors import KsefAuthTimeout, KsefError, KsefServerError, KsefTransportError
from .models import GeneratedToken, TokenPage
from .wire import (
    _bad_body,
    _decode_json,
    _error_for,
    _format_datetime,
    _Reader,
    _redact,
    _reference_path,
    _to_json,
    _token_info,
    parse_datetime,
)

__all__ = [
    "AUTH_IN_PROGRESS",
    "AUTH_SUCCEEDED",
    "DEFAULT_TIMEOUT",
    "KsefClient",
    "KsefTokenFailed",
    "UNKNOWN_PUBLIC_KEY",
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


class KsefTokenFailed(KsefError):
    """A KSeF token reached a status from which the awaited one is unreachable.

    ``code`` is ``'token_failed'``; ``status`` is the token's status (``Failed``, ``Revoking``
    or ``Revoked``) and ``details`` its ``statusDetails``.
    """

    def __init__(self, message, *, status, **kw):
        kw.setdefault("code", "token_failed")
        super().__init__(message, **kw)
        self.status = status


def _check_timeout(timeout):
    """Refuse a timeout that would let a call hang: ``None``, or a non-positive part."""
    parts = timeout if isinstance(timeout, tuple) else (timeout,)
    if len(parts) not in (1, 2) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) and p > 0 for p in parts
    ):
        raise ValueError("a KSeF client needs a positive timeout or (connect, read) pair")


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


class KsefClient(KsefAuthFlows, KsefCertificateEndpoints):
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


# --- filtering helpers -----------------------------------------------------------------------


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
