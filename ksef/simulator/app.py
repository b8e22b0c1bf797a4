"""The KSeF 2.0 simulator: a WSGI application serving the KSeF paths under ``/v2``.

Use it in-process (:mod:`.adapter`), over HTTP (:mod:`.server`) or from any WSGI server.
Every request goes through: body cap -> faults (latency / 5xx / drop before) -> routing
(404 / 405) -> bearer authentication (401, 403 ip-not-allowed) -> rate limit (429) ->
``x-required-permissions`` (403 missing-permissions) -> handler -> faults (drop after).
One re-entrant lock guards all state, so any number of client threads may call at once.

Test-support API (all thread-safe): :meth:`KsefSimulator.grant`, :meth:`revoke_grant`,
:meth:`link_person`, :meth:`create_token`, :meth:`set_token_status`, :meth:`token_info`,
:meth:`add_invoice`, :meth:`advance`, :meth:`reset`, :meth:`rotate_key`, ``faults``,
``calls`` (Counter of ``'METHOD /route'``) and ``request_log``; KSeF certificates:
``ca`` (the simulator CA), :attr:`certificates`, :attr:`enrollments`,
:meth:`certificate_der`, :meth:`set_certificate_status`, :meth:`set_certificate_valid_to`,
:meth:`issue_certificate`.

Not implemented: an operation of the official API (2.8.1, :mod:`.spec_paths`) that the
simulator does not serve is answered ``501 Not Implemented`` with an
``application/problem+json`` body (``title`` "Not Implemented", ``detail`` naming the
operation, ``reasonCode`` ``simulator-not-implemented``), whatever the bearer.  It is not a KSeF
answer, so clients treat it as a server error (5xx) and tests see at once which operation the
simulator lacks.  A path that is not in the spec stays a plain 404 (or 405 for a wrong method).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import re
import secrets
import threading
import time
import unicodedata

from . import auth, certificates, errors, queries, tokens
from .clock import Clock, iso
from .config import SimulatorConfig
from .faults import Faults
from .keys import SYMMETRIC_USAGE, TOKEN_USAGE, make_published_key
from .ratelimit import RateLimiter
from .spec_paths import SPEC_OPERATIONS
from .state import (
    PERSON_PERMISSIONS,
    TOKEN_PERMISSIONS,
    TOKEN_STATUSES,
    State,
    as_context,
    as_subject,
    context_problem,
    new_reference,
)
from .web import REASONS, Request, Response, headers_from_environ, parse_query, read_body

_log = logging.getLogger(__name__)

PREFIX = "/v2"
REF = r"(?P<ref>[^/]+)"


def _spec_regex(template):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


#: (method, template, regex) of every operation of the official API
_SPEC = tuple((m, t, _spec_regex(t)) for m, t in SPEC_OPERATIONS)


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    template: str  # '/auth/{ref}'
    regex: re.Pattern
    handler: object
    auth: tuple = ()  # accepted bearer kinds; () = public
    group: str = "other"
    required: tuple = ()  # x-required-permissions (any of)
    prepare: object = None  # optional step run outside the state lock before ``handler``


def _route(method, template, handler, auth=(), group="other", required=(), prepare=None):
    pattern = "^" + re.escape(template).replace(re.escape("{ref}"), REF) + "$"
    return Route(
        method, template, re.compile(pattern), handler, tuple(auth), group, tuple(required), prepare
    )


ACCESS = ("access",)
ROUTES = (
    _route("POST", "/auth/challenge", auth.challenge, group="public"),
    _route(
        "GET", "/security/public-key-certificates", auth.public_key_certificates, group="public"
    ),
    _route(
        "POST",
        "/auth/xades-signature",
        auth.xades_signature,
        group="public",
        prepare=auth.prepare_xades_signature,
    ),
    _route(
        "POST",
        "/auth/ksef-token",
        auth.ksef_token,
        group="public",
        prepare=auth.prepare_ksef_token,
    ),
    _route("POST", "/auth/token/redeem", auth.redeem, auth=("operation",), group="public"),
    _route("POST", "/auth/token/refresh", auth.refresh, auth=("refresh",), group="public"),
    _route("GET", "/auth/sessions", auth.list_sessions, auth=ACCESS),
    _route(
        "DELETE", "/auth/sessions/current", auth.revoke_current_session, auth=("access", "refresh")
    ),
    _route("DELETE", "/auth/sessions/{ref}", auth.revoke_session, auth=ACCESS),
    _route("GET", "/auth/{ref}", auth.auth_status, auth=("operation",), group="public"),
    _route("POST", "/tokens", tokens.generate, auth=ACCESS),
    _route("GET", "/tokens", tokens.list_tokens, auth=ACCESS),
    _route("GET", "/tokens/{ref}", tokens.get_token, auth=ACCESS),
    _route("DELETE", "/tokens/{ref}", tokens.revoke, auth=ACCESS),
    _route("POST", "/permissions/query/personal/grants", queries.personal_grants, auth=ACCESS),
    _route(
        "POST",
        "/permissions/persons/grants",
        queries.grant_persons,
        auth=ACCESS,
        required=("CredentialsManage",),
    ),
    _route("GET", "/permissions/operations/{ref}", queries.permission_operation, auth=ACCESS),
    _route(
        "DELETE",
        "/permissions/common/grants/{ref}",
        queries.revoke_common_grant,
        auth=ACCESS,
        required=("CredentialsManage", "VatUeManage", "SubunitManage"),
    ),
    _route(
        "POST",
        "/invoices/query/metadata",
        queries.query_metadata,
        auth=ACCESS,
        group="invoiceMetadata",
        required=("InvoiceRead",),
    ),
    _route("GET", "/rate-limits", queries.rate_limits, auth=ACCESS),
    _route(
        "POST",
        "/permissions/query/subunits/grants",
        queries.query_subunit_grants,
        auth=ACCESS,
        required=("CredentialsManage", "CredentialsRead", "SubunitManage"),
    ),
    _route(
        "POST",
        "/permissions/query/persons/grants",
        queries.query_person_grants,
        auth=ACCESS,
        required=("CredentialsManage", "CredentialsRead", "SubunitManage"),
    ),
    _route(
        "GET",
        "/permissions/query/entities/roles",
        queries.query_entity_roles,
        auth=ACCESS,
        required=("CredentialsManage", "CredentialsRead"),
    ),
    _route("POST", "/testdata/person", queries.testdata_person, group="public"),
    _route("POST", "/testdata/context/block", queries.testdata_block_context, group="public"),
    _route("POST", "/testdata/context/unblock", queries.testdata_unblock_context, group="public"),
    _route("GET", "/limits/context", queries.context_limits, auth=ACCESS),
    _route("GET", "/limits/subject", queries.subject_limits, auth=ACCESS),
    _route(
        "POST",
        "/permissions/subunits/grants",
        queries.grant_subunit,
        auth=ACCESS,
        required=("SubunitManage",),
    ),
    _route("GET", "/certificates/limits", certificates.limits, auth=ACCESS),
    _route("GET", "/certificates/enrollments/data", certificates.enrollment_data, auth=ACCESS),
    _route("POST", "/certificates/enrollments", certificates.enroll, auth=ACCESS),
    _route("GET", "/certificates/enrollments/{ref}", certificates.enrollment_status, auth=ACCESS),
    _route("POST", "/certificates/retrieve", certificates.retrieve, auth=ACCESS),
    _route("POST", "/certificates/query", certificates.query, auth=ACCESS),
    _route("POST", "/certificates/{ref}/revoke", certificates.revoke, auth=ACCESS),
    _route("PUT", "/testdata/certificates/{ref}", certificates.testdata_update, auth=ACCESS),
)


def _system_warning(requested):
    """``X-Test-System-Warning`` is echoed as ``X-System-Warning`` (TEST only, ASCII-folded)."""
    if not requested:
        return None
    try:  # HTTP header bytes arrive decoded as Latin-1; UTF-8 senders are the usual case
        requested = requested.encode("latin-1").decode("utf-8")
    except UnicodeError:
        _log.debug("X-Test-System-Warning is not UTF-8; echoed as received")
    requested = requested.replace("ł", "l").replace("Ł", "L")
    folded = unicodedata.normalize("NFKD", requested).encode("ascii", "ignore").decode("ascii")
    folded = "".join(ch for ch in folded if 32 <= ord(ch) < 127)[:500].strip()
    return folded or None


def _permission_list(permissions, known, what):
    """``permissions`` (one name or several) as a list, refusing a name not in ``known``."""
    permissions = [permissions] if isinstance(permissions, str) else list(permissions)
    for permission in permissions:
        if permission not in known:
            raise ValueError(f"unknown {what} {permission!r}")
    return permissions


class KsefSimulator:
    """A KSeF 2.0 (Test environment) simulator; a WSGI callable.

    ``KsefSimulator(config=None, clock=None)``; see :class:`~.config.SimulatorConfig`.
    """

    def __init__(self, config=None, *, clock=None):
        self.config = config or SimulatorConfig()
        self.clock = clock or Clock()
        self.faults = Faults()
        self.calls = collections.Counter()
        self.request_log = collections.deque(maxlen=10_000)
        self._lock = threading.RLock()
        self._limiter = RateLimiter()
        self.published_keys = [
            make_published_key(usage=(TOKEN_USAGE,)),
            make_published_key(usage=(SYMMETRIC_USAGE,)),
        ]
        #: the CA issuing KSeF certificates (kept by :meth:`reset`, like the published keys)
        self.ca = certificates.SimulatorCA(self.clock.now())
        self._init_state()

    def _init_state(self):
        self.state = State()
        self.jwt_key = secrets.token_bytes(32)
        self.created = self.clock.now()

    # --- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        status, headers, body, drop = self.handle(environ)
        if drop:
            raise errors.ConnectionDropped("connection dropped by an injected fault")
        start_response(f"{status} {REASONS.get(status, 'Unknown')}", headers)
        return [body]

    def handle(self, environ):
        """Serve one request: return ``(status, headers, body, drop_connection)``."""
        method = environ.get("REQUEST_METHOD", "GET").upper()
        full_path = environ.get("PATH_INFO", "") or "/"
        headers = headers_from_environ(environ)
        client_ip = self._client_ip(environ, headers)
        problem = headers.get("x-error-format", "").strip().lower() == "problem-details"
        instance = full_path[:200]
        route_key = f"{method} {full_path[:100]}"
        drop_after = False
        auth_outcome = None
        try:
            try:
                body, too_large = read_body(environ, self.config.max_body_bytes)
                query = parse_query(environ.get("QUERY_STRING", ""))
            except errors.SimError:
                raise
            except Exception:  # a broken client stream
                raise errors.validation("Nie można odczytać treści żądania.") from None
            path = full_path[len(PREFIX) :] if full_path.startswith(PREFIX + "/") else None
            route, params, routing_error = None, {}, None
            try:
                if path is None:
                    raise errors.NotFound("no such path")
                route, params = self._match(method, path)
                route_key = f"{method} {route.template}"
            except errors.SimError as exc:
                routing_error = exc
                route_key = f"{method} <unrouted>"  # bounded keys in sim.calls
            for fault in self.faults.take(method, path or full_path):
                if fault.kind == "latency":
                    time.sleep(fault.delay)
                elif fault.kind == "error5xx":
                    raise errors.ServerFault(fault.status)
                elif fault.kind == "drop_before":
                    self._record(route_key, 0, client_ip)
                    return 0, [], b"", True
                elif fault.kind == "drop_after":
                    drop_after = True
                elif fault.kind == "auth_outcome":
                    auth_outcome = (fault.status, fault.detail)
                elif fault.kind == "forbidden":
                    raise errors.Forbidden(fault.reason, with_timestamp=False)
            if routing_error is not None:
                raise routing_error
            req = Request(
                method=method,
                path=path,
                full_path=full_path,
                query=query,
                headers=headers,
                body=body,
                client_ip=client_ip,
                body_too_large=too_large,
                params=params,
            )
            req.fault_outcome = auth_outcome
            response = self._dispatch(route, req)
            status, out_headers, out_body = self._render(response)
        except errors.SimError as exc:
            status, out_headers, out_body = errors.render(
                exc, instance=instance, problem_details=problem, timestamp=iso(self.clock.now())
            )
        except Exception:  # never leak a traceback to the client
            _log.exception("simulator handler failed for %s", route_key)
            status, out_headers, out_body = errors.render(
                errors.validation("Nie można przetworzyć żądania."),
                instance=instance,
                problem_details=problem,
                timestamp=iso(self.clock.now()),
            )
        self._record(route_key, status, client_ip)
        warning = _system_warning(headers.get("x-test-system-warning"))
        if warning:
            out_headers.append(("X-System-Warning", warning))
        out_headers.append(("Content-Length", str(len(out_body))))
        return status, out_headers, out_body, drop_after

    def _client_ip(self, environ, headers):
        if self.config.trust_forwarded_for and headers.get("x-forwarded-for"):
            return headers["x-forwarded-for"].split(",")[0].strip()
        return environ.get("REMOTE_ADDR") or "127.0.0.1"

    def _match(self, method, path):
        """Find the route; literal paths win over ``{ref}`` templates (so ``GET /auth/challenge``
        is a 405, not a status query for a reference number ``challenge``)."""
        for literal in (True, False):
            allowed = []
            for route in ROUTES:
                if ("{" not in route.template) != literal:
                    continue
                found = route.regex.match(path)
                if found:
                    if route.method == method:
                        return route, found.groupdict()
                    allowed.append(route.method)
            if allowed:
                raise errors.MethodNotAllowed(allowed)
        for spec_method, template, regex in _SPEC:
            if spec_method == method and regex.match(path):
                raise errors.NotImplementedBySimulator(method, template)
        raise errors.NotFound("no such path")

    def _dispatch(self, route, req):
        with self._lock:
            if route.auth:
                req.principal = auth.authenticate(self, req, route.auth)
            self._rate_limit(route, req)
            if route.required and req.principal is not None:
                present = req.principal.permissions
                if not present.intersection(route.required):
                    raise errors.Forbidden(
                        "missing-permissions",
                        {
                            "requiredAnyOfPermissions": list(route.required),
                            "presentPermissions": sorted(present),
                        },
                    )
        if route.prepare is not None:
            req.prepared = route.prepare(self, req)
        with self._lock:
            return route.handler(self, req)

    def _rate_limit(self, route, req):
        table = self.config.effective_rate_limits()
        if not table:
            return
        limits = table.get(route.group) or table["other"]
        if route.group == "public" or req.principal is None or req.principal.kind != "access":
            key = (None, req.client_ip, f"{route.method} {route.template}")
        else:
            key = (req.principal.context, req.client_ip, route.group)
        verdict = self._limiter.hit(key, limits, self.clock.now())
        if verdict is not None:
            raise errors.TooManyRequests(*verdict)

    def _render(self, response: Response):
        headers = list(response.headers)
        if response.body is None:
            return response.status, headers, b""
        headers.append(("Content-Type", "application/json; charset=utf-8"))
        return (
            response.status,
            headers,
            json.dumps(response.body, ensure_ascii=False).encode("utf-8"),
        )

    def _record(self, route_key, status, client_ip):
        with self._lock:
            self.calls[route_key] += 1
            self.request_log.append((self.clock.now(), route_key, status, client_ip))

    # --- housekeeping (called under the lock) ----------------------------------------------

    def prune_challenges(self, now):
        if len(self.state.challenges) > 5000:
            ttl = self.config.challenge_ttl
            for value in [
                v for v, c in self.state.challenges.items() if now - c.created > ttl or c.used
            ]:
                del self.state.challenges[value]

    def prune_access(self, now):
        if len(self.state.access) > 5000:
            for jti in [j for j, g in self.state.access.items() if g.expires <= now]:
                del self.state.access[jti]

    def current_key(self, usage):
        for key in reversed(self.published_keys):
            if not key.retired and usage in key.usage:
                return key
        raise RuntimeError("no published key for " + usage)

    # --- test-support API ------------------------------------------------------------------

    def advance(self, seconds):
        """Move the simulator clock forward (expire challenges, JWTs, delays...)."""
        self.clock.advance(seconds)

    def reset(self):
        """Forget all state (tokens, grants, sessions, invoices), counters and faults.

        The published encryption key is kept (clients may have cached it).
        """
        with self._lock:
            self._init_state()
            self.calls.clear()
            self.request_log.clear()
            self.faults.clear()
            self._limiter.reset()

    def rotate_key(self, *, retire_old=True, usage=TOKEN_USAGE):
        """Publish a new key for ``usage``; the old one of that usage is withdrawn (21470)
        unless told otherwise."""
        from cryptography.hazmat.primitives.asymmetric import rsa

        new = make_published_key(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), usage=(usage,)
        )
        with self._lock:
            if retire_old:
                for key in self.published_keys:
                    if usage in key.usage:
                        key.retired = True
            self.published_keys.append(new)
        return new

    def grant(self, context, subject, permissions, description="Uprawnienie nadane w symulatorze"):
        """Give ``subject`` permissions in ``context`` (as an owner's grant would)."""
        context, subject = self._context(context), as_subject(subject)
        permissions = _permission_list(permissions, PERSON_PERMISSIONS, "permission")
        with self._lock:
            for permission in permissions:
                self.state.add_grant(context, subject, permission, description, self.clock.now())

    def revoke_grant(self, context, subject, permissions=None):
        """Take granted permissions away (all of them when ``permissions`` is ``None``)."""
        context, subject = self._context(context), as_subject(subject)
        if isinstance(permissions, str):
            permissions = [permissions]
        with self._lock:
            return self.state.remove_grants(
                context, subject, None if permissions is None else set(permissions)
            )

    def link_person(self, nip, pesel):
        """NIP–PESEL link: person ``pesel`` becomes an owner of ``nip`` (and author-equivalent)."""
        with self._lock:
            self.state.person_links[pesel] = nip

    def permissions_of(self, context, subject):
        """The permissions ``subject`` currently holds in ``context`` (sorted list)."""
        with self._lock:
            return sorted(
                self.state.permissions_of(
                    as_subject(subject), self._context(context), self.config.owner_permissions
                )
            )

    def create_token(
        self, context, author, permissions, description="Token z aplikacji webowej", status="Active"
    ):
        """Create a token as the Ministry's web app would; return the full token string."""
        context, author = self._context(context), as_subject(author)
        if context[0] not in ("Nip", "InternalId"):
            raise ValueError("tokens exist only in Nip and InternalId contexts")
        permissions = _permission_list(permissions, TOKEN_PERMISSIONS, "token permission")
        if status not in TOKEN_STATUSES:
            raise ValueError(f"unknown token status {status!r}")
        if not isinstance(description, str) or not 5 <= len(description) <= 256:
            raise ValueError("a token description has 5 to 256 characters (as in KSeF)")
        with self._lock:
            _record, token = tokens.create_token_record(
                self, context, author, permissions, description, status=status
            )
        return token

    def set_token_status(self, reference, status, details=()):
        """Force a token's status (e.g. ``'Failed'``, or ``'Revoked'`` as if revoked elsewhere)."""
        if status not in TOKEN_STATUSES:
            raise ValueError(f"unknown token status {status!r}")
        with self._lock:
            record = self.state.tokens[reference.split("|", 1)[0]]
            record.status = status
            record.activate_at = None
            record.revoke_at = None
            record.status_details = tuple(details)

    def token_info(self, reference):
        """The ``TokenStatusResponse`` JSON of a token (``None`` if unknown); no secret."""
        with self._lock:
            record = self.state.tokens.get(reference.split("|", 1)[0])
            return None if record is None else record.to_json(self.clock.now())

    def tokens_in(self, context):
        """JSON of every token of ``context`` (newest first)."""
        context = self._context(context)
        with self._lock:
            now = self.clock.now()
            records = sorted(
                (r for r in self.state.tokens.values() if r.context == context),
                key=lambda r: (r.created, r.seq),
                reverse=True,
            )
            return [r.to_json(now) for r in records]

    def add_invoice(self, seller_nip, buyer_nip=None, **fields):
        """Store invoice metadata (see :func:`.queries.make_invoice` for ``fields``); return it."""
        with self._lock:
            invoice = queries.make_invoice(
                seller_nip, buyer_nip=buyer_nip, now=self.clock.now(), **fields
            )
            self.state.invoices.append(invoice)
            return dict(invoice)

    def seed_invoices(self, nip, count=5, *, partner_nip="7352765225"):
        """Add ``count`` sales and ``count`` purchase invoices of ``nip`` over the last days."""
        now = self.clock.now()
        for i in range(count):
            self.add_invoice(nip, partner_nip, permanent_storage=now - 86400 * (i + 1))
            self.add_invoice(partner_nip, nip, permanent_storage=now - 86400 * (i + 1) - 3600)

    # --- KSeF certificates ---

    @property
    def certificates(self):
        """JSON (``CertificateListItem`` plus ``revocationReason``) of every issued KSeF
        certificate, newest request first."""
        with self._lock:
            certificates.process(self)
            now = self.clock.now()
            records = sorted(
                self.state.certificates.values(),
                key=lambda r: (r.request_date, r.seq),
                reverse=True,
            )
            return [dict(r.to_json(now), revocationReason=r.revocation_reason) for r in records]

    @property
    def enrollments(self):
        """``{referenceNumber, subject, name, type, code, details, serial}`` of every
        enrolment, oldest first."""
        with self._lock:
            certificates.process(self)
            return [
                {
                    "referenceNumber": e.reference_number,
                    "subject": e.subject.to_json(),
                    "name": e.name,
                    "type": e.certificate_type,
                    "code": e.status_code,
                    "details": list(e.status_details),
                    "serial": e.serial,
                }
                for e in sorted(self.state.enrollments.values(), key=lambda e: e.created)
            ]

    def certificate_der(self, serial):
        """The DER of an issued KSeF certificate (``KeyError`` if unknown)."""
        with self._lock:
            certificates.process(self)
            return self.state.certificates[serial].der

    def set_certificate_status(self, serial, status):
        """Force a KSeF certificate's status: ``Active``, ``Blocked`` or ``Revoked``."""
        if status not in ("Active", "Blocked", "Revoked"):
            raise ValueError("status must be Active, Blocked or Revoked (Expired follows validTo)")
        with self._lock:
            certificates.process(self)
            self.state.certificates[serial].status = status

    def set_certificate_valid_to(self, serial, valid_to):
        """Move a KSeF certificate's ``validTo`` (epoch seconds or an aware datetime); in the
        past it is ``Expired``. The DER keeps its original notAfter, as on KSeF TEST."""
        if hasattr(valid_to, "timestamp"):
            valid_to = valid_to.timestamp()
        with self._lock:
            certificates.process(self)
            self.state.certificates[serial].valid_to = float(valid_to)

    def issue_certificate(
        self,
        subject,
        private_key,
        enrollment_data,
        *,
        name="Certyfikat testowy",
        certificate_type="Authentication",
    ):
        """Issue a KSeF certificate at once, without the HTTP enrolment (test set-up).

        :param subject: the identity it carries (``'5265877635'``, an ``Identifier``, ...)
        :param private_key: the key to certify (its public half is used)
        :param enrollment_data: :class:`ksef.models.EnrollmentData` for the subject DN
        :returns: ``(serial, cryptography certificate)``
        """
        from cryptography import x509

        from .. import csr

        subject = as_subject(subject)
        der = csr.build_csr(private_key, enrollment_data)
        with self._lock:
            now = self.clock.now()
            record = certificates.EnrollmentRecord(
                reference_number=new_reference("EH", now),
                subject=subject,
                name=name,
                certificate_type=certificate_type,
                csr_der=der,
                spki=certificates._spki(private_key.public_key()),
                created=now,
                ready_at=now,
            )
            self.state.enrollments[record.reference_number] = record
            certificates.process(self)
            if record.serial is None:
                raise ValueError("not issued: " + "; ".join(record.status_details))
            der = self.state.certificates[record.serial].der
        return record.serial, x509.load_der_x509_certificate(der)

    def _context(self, context):
        context = as_context(context)
        problem = context_problem(*context)
        if problem:
            raise ValueError(problem)
        return context
