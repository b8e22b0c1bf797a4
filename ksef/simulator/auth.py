"""Authentication endpoints (``/auth/*``, ``/security/public-key-certificates``) and the
bearer-token checks every protected endpoint goes through.

Outcomes follow the KSeF Test environment (REFERENCE §2, OpenAPI ``/auth/*``):

* ``POST /auth/challenge`` -> 200 ``{challenge, timestamp, timestampMs, clientIp}``;
  a challenge is valid ``challenge_ttl`` seconds and can be used once;
* ``POST /auth/xades-signature`` / ``POST /auth/ksef-token`` -> 202 with an operation
  token; synchronous input errors are 400 (21405, 21001, 21111, 21115, 21401, 21470,
  9101-9105); the outcome (200 / 415 / 450 / 460) is reported by ``GET /auth/{ref}``
  after ``auth_delay`` seconds (status 100 until then);
* ``POST /auth/token/redeem`` works once; ``POST /auth/token/refresh`` gives an access
  token with the *current* permissions, and fails with 21301 once the KSeF token behind the
  session is revoked or the session was revoked with ``DELETE /auth/sessions/...``.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
import logging
import secrets

from ..models import Identifier
from . import certificates, errors, jwt
from .clock import iso
from .state import (
    CHALLENGE_RE,
    REFERENCE_RE,
    AccessGrant,
    AuthOperation,
    ChallengeRecord,
    as_context,
    context_problem,
    new_reference,
    parse_token_string,
)
from .web import Request, Response, b64decode_strict, require_obj, require_str

_log = logging.getLogger(__name__)

IN_PROGRESS = (100, "Uwierzytelnianie w toku")
SUCCESS = (200, "Uwierzytelnianie zakończone sukcesem")
FAILED = "Uwierzytelnianie zakończone niepowodzeniem"
BAD_TOKEN = "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu"
BAD_CERT = "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu"
REVOKED = (
    425,
    "Uwierzytelnienie unieważnione",
    ("Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione przez użytkownika",),
)

METHODS = {
    "Token": ("Token", {"category": "Token", "code": "token.ksef", "displayName": "Token KSeF"}),
    "QualifiedSignature": (
        "QualifiedSignature",
        {
            "category": "XadesSignature",
            "code": "xades.qualified-signature",
            "displayName": "Podpis kwalifikowany",
        },
    ),
    "InternalCertificate": (
        "InternalCertificate",
        {
            "category": "XadesSignature",
            "code": "xades.internal-certificate",
            "displayName": "Certyfikat KSeF",
        },
    ),
    "QualifiedSeal": (
        "QualifiedSeal",
        {
            "category": "XadesSignature",
            "code": "xades.qualified-seal",
            "displayName": "Pieczęć kwalifikowana",
        },
    ),
}

#: KsefXmlError.kind -> KSeF exception code of POST /auth/xades-signature
XML_ERROR_CODES = {
    "too_large": 21001,
    "malformed": 21001,
    "encoding": 21217,
    "forbidden_dtd": 9101,
    "wrong_root": 21401,
    "schema": 21401,
    "unsigned": 9102,
    "multiple_signatures": 9103,
    "bad_signature": 9105,
    "bad_certificate": 21115,
    "wrong_challenge": 21111,
    "expired_challenge": 21111,
    "wrong_context": 21117,
}


@dataclasses.dataclass
class Principal:
    """Who is calling: ``kind`` is ``operation`` / ``access`` / ``refresh``."""

    kind: str
    operation: AuthOperation
    grant: AccessGrant | None = None

    @property
    def context(self):
        return self.operation.context

    @property
    def permissions(self):
        return self.grant.permissions if self.grant else frozenset()

    @property
    def is_token_session(self):
        return self.operation.token_reference is not None


# --- bearer tokens ------------------------------------------------------------------------------


def issue(sim, kind, operation, ttl, **extra):
    now = sim.clock.now()
    jti = secrets.token_hex(16)
    claims = {
        "typ": kind,
        "arn": operation.reference_number,
        "cit": operation.context[0],
        "civ": operation.context[1],
        "jti": jti,
        "iat": int(now),
        "exp": int(now + ttl),
        "iss": "ksef-simulator",
        "aud": "ksef-simulator",
    }
    claims.update(extra)
    return jwt.encode(claims, sim.jwt_key), jti, now + ttl


def authenticate(sim, req: Request, accepted):
    """Resolve the ``Authorization: Bearer`` header into a :class:`Principal` or raise 401/403."""
    header = req.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthorized("Wymagane jest uwierzytelnienie.")
    claims = jwt.decode(token.strip(), sim.jwt_key)
    kinds = {"operation": "OperationToken", "access": "ContextToken", "refresh": "RefreshToken"}
    if claims is None or claims.get("iss") != "ksef-simulator":
        raise errors.Unauthorized("Nieprawidłowy token uwierzytelniający.")
    kind = next((k for k, v in kinds.items() if v == claims.get("typ")), None)
    if kind not in accepted:
        raise errors.Unauthorized("Nieprawidłowy rodzaj tokena dla tej operacji.")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= sim.clock.now():
        raise errors.Unauthorized("Token wygasł.")
    operation = sim.state.operations.get(claims.get("arn"))
    if operation is None:
        raise errors.Unauthorized("Nieprawidłowy token uwierzytelniający.")
    principal = Principal(kind=kind, operation=operation)
    if kind == "access":
        principal.grant = sim.state.access.get(claims.get("jti"))
        if principal.grant is None:
            raise errors.Unauthorized("Nieprawidłowy token uwierzytelniający.")
        if operation.allowed_ips and not ip_allowed(req.client_ip, operation.allowed_ips):
            raise errors.Forbidden("ip-not-allowed", {"clientIp": req.client_ip})
    elif kind == "refresh":
        if claims.get("jti") != operation.refresh_jti:
            raise errors.Unauthorized("Nieprawidłowy token odświeżający.")
    return principal


def ip_allowed(client_ip, allowed):
    """``allowedIps`` check (addresses, ``a-b`` ranges, CIDR masks)."""
    try:
        ip = ipaddress.IPv4Address(client_ip)
    except ValueError:
        return False
    for value in allowed.get("ip4Addresses") or ():
        if value == client_ip:
            return True
    for value in allowed.get("ip4Ranges") or ():
        low, _, high = value.partition("-")
        try:
            if ipaddress.IPv4Address(low) <= ip <= ipaddress.IPv4Address(high):
                return True
        except ValueError:
            continue
    for value in allowed.get("ip4Masks") or ():
        try:
            if ip in ipaddress.IPv4Network(value, strict=False):
                return True
        except ValueError:
            continue
    return False


def validate_allowed_ips(policy):
    """Validate an ``authorizationPolicy`` JSON object; return its ``allowedIps`` or ``None``."""
    if policy is None:
        return None
    if not isinstance(policy, dict):
        raise errors.validation("Pole authorizationPolicy musi być obiektem.")
    allowed = policy.get("allowedIps")
    if allowed is None:
        return None
    if not isinstance(allowed, dict):
        raise errors.validation("Pole authorizationPolicy.allowedIps musi być obiektem.")
    result = {}
    checks = {
        "ip4Addresses": lambda v: ipaddress.IPv4Address(v),
        "ip4Ranges": lambda v: [ipaddress.IPv4Address(p) for p in _split_range(v)],
        "ip4Masks": lambda v: ipaddress.IPv4Network(v, strict=False) if "/" in v else _bad(),
    }
    for name, check in checks.items():
        values = allowed.get(name)
        if values is None:
            continue
        if not isinstance(values, list) or len(values) > 10:
            raise errors.validation(f"Pole allowedIps.{name} musi być listą (0–10 elementów).")
        for value in values:
            try:
                if not isinstance(value, str):
                    raise ValueError
                check(value)
            except ValueError:
                raise errors.validation(
                    f"Nieprawidłowa wartość w polu allowedIps.{name}."
                ) from None
        result[name] = list(values)
    return result if any(result.values()) else None


def _split_range(value):
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError
    return parts


def _bad():
    raise ValueError


# --- challenge and keys --------------------------------------------------------------------------


def challenge(sim, req):
    now = sim.clock.now()
    value = new_reference("CR", now)
    record = ChallengeRecord(
        value=value, created=now, timestamp_ms=int(now * 1000), client_ip=req.client_ip
    )
    sim.state.challenges[value] = record
    sim.prune_challenges(now)
    return Response(
        200,
        {
            "challenge": value,
            "timestamp": iso(record.timestamp_ms / 1000),
            "timestampMs": record.timestamp_ms,
            "clientIp": req.client_ip,
        },
    )


def public_key_certificates(sim, req):
    return Response(200, [key.to_json() for key in sim.published_keys if not key.retired])


def _consume_challenge(sim, value):
    """Return the challenge record or raise 400 21111 (unknown, used or expired)."""
    if not isinstance(value, str) or not CHALLENGE_RE.match(value):
        raise errors.bad_request(21111, "Wyzwanie ma nieprawidłowy format.")
    record = sim.state.challenges.get(value)
    now = sim.clock.now()
    if record is None:
        raise errors.bad_request(21111, "Wyzwanie nie zostało znalezione.")
    if record.used:
        raise errors.bad_request(21111, "Wyzwanie zostało już wykorzystane.")
    if now - record.created > sim.config.challenge_ttl:
        raise errors.bad_request(21111, "Wyzwanie wygasło.")
    record.used = True
    return record


def _new_operation(
    sim,
    req,
    *,
    context,
    method,
    subject,
    outcome,
    token_reference=None,
    allowed_ips=None,
    enrollment_data=None,
    certificate_serial=None,
):
    now = sim.clock.now()
    code, description, *details = outcome
    method_name, info = METHODS[method]
    operation = AuthOperation(
        reference_number=new_reference("AU", now),
        created=now,
        context=context,
        method=method_name,
        method_info=dict(info),
        subject=subject,
        client_ip=req.client_ip,
        ready_at=now + sim.config.auth_delay,
        status_code=code,
        status_description=description,
        status_details=tuple(details[0]) if details else (),
        token_reference=token_reference,
        allowed_ips=allowed_ips,
        enrollment_data=enrollment_data,
        certificate_serial=certificate_serial,
    )
    sim.state.operations[operation.reference_number] = operation
    token, _jti, valid_until = issue(sim, "OperationToken", operation, sim.config.operation_ttl)
    return Response(
        202,
        {
            "referenceNumber": operation.reference_number,
            "authenticationToken": {"token": token, "validUntil": iso(valid_until)},
        },
    )


def _permission_outcome(sim, subject, context):
    if context in sim.state.blocked_contexts:  # POST /testdata/context/block
        return (480, "Uwierzytelnianie zablokowane", ("Kontekst uwierzytelnienia zablokowany",))
    if not sim.state.permissions_of(subject, context, sim.config.owner_permissions):
        return (415, FAILED, ("Brak przypisanych uprawnień",))
    return SUCCESS


# --- XAdES ----------------------------------------------------------------------------------------


def prepare_xades_signature(sim, req):
    """Outside the state lock: verify the signed document (the CPU-heavy part)."""
    if req.body_too_large:
        raise errors.bad_request(21001, "Dokument jest zbyt duży.")
    if not req.body.strip():
        raise errors.bad_request(21001, "Brak treści dokumentu.")
    chain = (req.arg("verifyCertificateChain") or "false").strip().lower()
    if chain not in ("true", "false", "1", "0", ""):
        raise errors.validation("Parametr verifyCertificateChain musi mieć wartość true lub false.")
    verify_chain = chain in ("true", "1")

    from .. import xades  # imported lazily: the XAdES module pulls in lxml/signxml
    from ..errors import KsefXmlError

    try:
        verified = xades.verify_signed_auth_request(req.body, now=sim.clock.datetime())
    except KsefXmlError as exc:
        code = XML_ERROR_CODES.get(getattr(exc, "kind", None), 9101)
        raise errors.bad_request(code, exc.message) from None
    except Exception as exc:  # never answer 500 for a bad document
        _log.warning("XAdES verification failed unexpectedly: %s", type(exc).__name__)
        raise errors.bad_request(9101, "Nie można zweryfikować dokumentu.") from None
    return verified, verify_chain


def xades_signature(sim, req):
    """Under the lock: challenge, context, subject, permissions -> the auth operation."""
    verified, verify_chain = req.prepared
    _consume_challenge(sim, verified.challenge)
    try:
        context = as_context(verified.context)
    except (TypeError, ValueError, KeyError):
        raise errors.bad_request(21401, "Nieprawidłowy identyfikator kontekstu.") from None
    problem = context_problem(*context)
    if problem:
        raise errors.validation(problem)

    subject_type = getattr(verified, "subject_identifier_type", "certificateSubject")
    certificate = _x509(getattr(verified, "certificate", None))
    internal = certificates.internal_login(sim, certificate)
    if internal is not None:  # a KSeF certificate of the simulator CA
        return _internal_certificate_login(sim, req, verified, context, internal)
    if subject_type == "certificateFingerprint":
        fingerprint = getattr(verified, "fingerprint", None) or _fingerprint(certificate)
        subject = Identifier("Fingerprint", str(fingerprint).upper())
    else:
        subject = getattr(verified, "subject", None)
        if subject is None:
            raise errors.bad_request(21115, "Certyfikat nie zawiera identyfikatora NIP ani PESEL.")
    method = "QualifiedSeal" if _is_seal(certificate) else "QualifiedSignature"

    outcome = _certificate_outcome(sim, certificate, verify_chain) or _permission_outcome(
        sim, subject, context
    )
    policy = getattr(verified, "authorization_policy", None)
    allowed_ips = None
    if policy:
        allowed_ips = validate_allowed_ips(
            policy.to_json() if hasattr(policy, "to_json") else policy
        )
    return _new_operation(
        sim,
        req,
        context=context,
        method=method,
        subject=subject,
        outcome=outcome,
        allowed_ips=allowed_ips,
        enrollment_data=certificates.enrollment_data_of(certificate),
    )


def _allowed_ips_of(verified):
    policy = getattr(verified, "authorization_policy", None)
    if not policy:
        return None
    return validate_allowed_ips(policy.to_json() if hasattr(policy, "to_json") else policy)


def _internal_certificate_login(sim, req, verified, context, internal):
    """``InternalCertificate``: the subject is the one the KSeF certificate was issued to
    (whatever ``SubjectIdentifierType`` says); 460 for an unusable certificate."""
    record = internal.record
    subject = record.subject if record is not None else None
    outcome = internal.outcome or _permission_outcome(sim, subject, context)
    return _new_operation(
        sim,
        req,
        context=context,
        method="InternalCertificate",
        subject=subject,
        outcome=outcome,
        allowed_ips=_allowed_ips_of(verified),
        enrollment_data=certificates.enrollment_data_of(verified.certificate),
        certificate_serial=record.serial if record is not None else None,
    )


def _x509(certificate):
    """Accept a cryptography certificate, DER bytes or PEM text; ``None`` if unreadable."""
    from cryptography import x509

    if certificate is None or isinstance(certificate, x509.Certificate):
        return certificate
    try:
        if isinstance(certificate, str):
            certificate = certificate.encode("ascii")
        if certificate.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(certificate)
        return x509.load_der_x509_certificate(certificate)
    except (ValueError, TypeError):
        return None


def _fingerprint(certificate):
    import hashlib

    from cryptography.hazmat.primitives import serialization

    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def _is_seal(certificate):
    if certificate is None:
        return False
    from cryptography.x509.oid import ObjectIdentifier

    return bool(certificate.subject.get_attributes_for_oid(ObjectIdentifier("2.5.4.97")))


def _certificate_outcome(sim, certificate, verify_chain):
    """Status 460 for a self-signed certificate when the chain must be verified.

    (A certificate outside its validity at the simulator's time is refused earlier by
    :func:`ksef.xades.verify_signed_auth_request`, which raises ``bad_certificate`` -> 21115.)
    """
    if certificate is None:
        return None
    import datetime

    now = datetime.datetime.utcfromtimestamp(sim.clock.now())
    if not certificate.not_valid_before <= now <= certificate.not_valid_after:
        return (460, BAD_CERT, ("Nieważny certyfikat.",))
    if verify_chain and certificate.issuer == certificate.subject:
        return (460, BAD_CERT, ("Niezaufany łańcuch certyfikatów.",))
    return None


# --- KSeF token -----------------------------------------------------------------------------------


def prepare_ksef_token(sim, req):
    """Outside the state lock: validate the body, pick the key and decrypt (RSA is slow)."""
    body = req.json()
    challenge_value = require_str(body, "challenge", min_len=36, max_len=36)
    ctx = require_obj(body, "contextIdentifier")
    ctype = require_str(ctx, "type", where="contextIdentifier.")
    cvalue = require_str(ctx, "value", where="contextIdentifier.", max_len=64)
    encrypted = b64decode_strict(body.get("encryptedToken"), "encryptedToken")
    if len(encrypted) > 4096:
        raise errors.validation("Pole encryptedToken jest zbyt długie.")
    key_id = body.get("publicKeyId")
    if key_id is not None and (not isinstance(key_id, str) or len(key_id) != 44):
        raise errors.validation("Pole publicKeyId musi mieć 44 znaki.")
    allowed_ips = validate_allowed_ips(body.get("authorizationPolicy"))
    problem = context_problem(ctype, cvalue)
    if problem:
        raise errors.validation(problem)
    context = (ctype, cvalue)

    if key_id is not None:
        # a key published for another usage (SymmetricKeyEncryption) is not supported for
        # tokens: 21470, as for an unknown or withdrawn key
        key = next(
            (
                k
                for k in sim.published_keys
                if k.public_key_id == key_id and not k.retired and "KsefTokenEncryption" in k.usage
            ),
            None,
        )
        if key is None:
            raise errors.bad_request(21470, f"Klucz o identyfikatorze {key_id} nie jest wspierany.")
    else:
        key = sim.current_key("KsefTokenEncryption")
    try:
        decrypted = key.decrypt_token(encrypted)
    except Exception:  # wrong key, wrong padding, garbage, not UTF-8: all the same to KSeF
        decrypted = None
    return challenge_value, context, allowed_ips, decrypted


def ksef_token(sim, req):
    """Under the lock: challenge, token lookup and status -> the auth operation."""
    challenge_value, context, allowed_ips, decrypted = req.prepared
    record = _consume_challenge(sim, challenge_value)
    token_record = None
    outcome = None
    if decrypted is None:
        outcome = (450, BAD_TOKEN, ("Nieprawidłowe szyfrowanie tokena",))
    else:
        text, stamp = decrypted
    if outcome is None and stamp != str(record.timestamp_ms):
        outcome = (450, BAD_TOKEN, ("Nieprawidłowy czas tokena",))
    if outcome is None:
        parsed = parse_token_string(text)
        if parsed is None:
            outcome = (450, BAD_TOKEN, ("Nieprawidłowe kodowanie tokena",))
        else:
            reference, token_context, secret = parsed
            token_record = sim.state.tokens.get(reference)
            if (
                token_record is None
                or not token_record.secret_matches(secret)
                or token_record.context != token_context
            ):
                token_record, outcome = None, (450, BAD_TOKEN, ("Nieprawidłowy token",))
    if outcome is None:
        status = token_record.effective_status(sim.clock.now())
        if status in ("Revoking", "Revoked"):
            outcome = (450, BAD_TOKEN, ("Token unieważniony",))
        elif status != "Active":
            outcome = (450, BAD_TOKEN, ("Token nieaktywny",))
        elif token_record.context != context:
            outcome = (450, BAD_TOKEN, (f"Token nie może być użyty w kontekście {context[1]}",))
        else:
            outcome = _permission_outcome(sim, token_record.author, context)
            token_record.last_use = sim.clock.now()
    forced = getattr(req, "fault_outcome", None)
    if forced is not None:  # an injected auth_outcome fault (see .faults)
        detail = forced[1].replace("{contextIdentifier}", context[1])
        outcome = (forced[0], BAD_TOKEN if forced[0] == 450 else "Błąd uwierzytelnienia")
        outcome = outcome + ((detail,),) if detail else outcome
    subject = token_record.author if token_record else None
    return _new_operation(
        sim,
        req,
        context=context,
        method="Token",
        subject=subject,
        outcome=outcome,
        token_reference=token_record.reference_number
        if token_record and outcome[0] == 200
        else None,
        allowed_ips=allowed_ips,
    )


# --- status, redeem, refresh ----------------------------------------------------------------------


def _status_triplet(sim, operation):
    if operation.revoked:
        return REVOKED
    if sim.clock.now() < operation.ready_at:
        return IN_PROGRESS + ((),)
    return (operation.status_code, operation.status_description, operation.status_details)


def operation_json(sim, operation, *, current=None):
    code, description, details = _status_triplet(sim, operation)
    status = {"code": code, "description": description}
    if details:
        status["details"] = list(details)
    body = {
        "startDate": iso(operation.created),
        "authenticationMethod": operation.method,
        "authenticationMethodInfo": dict(operation.method_info),
        "status": status,
        "isTokenRedeemed": operation.redeemed,
        "lastTokenRefreshDate": iso(operation.last_refresh),
        "refreshTokenValidUntil": iso(operation.refresh_valid_until),
    }
    if current is not None:
        body = {"referenceNumber": operation.reference_number, "isCurrent": current, **body}
    return body


def auth_status(sim, req):
    reference = req.params["ref"]
    if not REFERENCE_RE.match(reference):
        raise errors.validation("Nieprawidłowy numer referencyjny.")
    operation = req.principal.operation
    if operation.reference_number != reference:
        raise errors.bad_request(
            21304,
            f"Operacja uwierzytelniania o numerze referencyjnym {reference} "
            "nie została znaleziona.",
        )
    if sim.clock.now() - operation.created > sim.config.auth_retention:
        raise errors.Gone()
    return Response(200, operation_json(sim, operation))


def session_permissions(sim, operation):
    """Current effective permissions of a session (token: requested ∩ author's)."""
    held = sim.state.permissions_of(
        operation.subject, operation.context, sim.config.owner_permissions
    )
    if operation.token_reference:
        token = sim.state.tokens.get(operation.token_reference)
        held &= set(token.permissions) if token else set()
    return frozenset(held)


def _issue_access(sim, operation):
    token, jti, valid_until = issue(sim, "ContextToken", operation, sim.config.access_ttl)
    sim.state.access[jti] = AccessGrant(
        session=operation.reference_number,
        context=operation.context,
        permissions=session_permissions(sim, operation),
        expires=valid_until,
    )
    sim.prune_access(sim.clock.now())
    return {"token": token, "validUntil": iso(valid_until)}


def _token_revoked(sim, operation):
    if not operation.token_reference:
        return False
    token = sim.state.tokens.get(operation.token_reference)
    return token is None or token.effective_status(sim.clock.now()) in (
        "Revoking",
        "Revoked",
        "Failed",
    )


def redeem(sim, req):
    operation = req.principal.operation
    code, _description, _details = _status_triplet(sim, operation)
    if operation.redeemed:
        raise errors.bad_request(
            21301,
            f"Tokeny dla operacji uwierzytelniania {operation.reference_number} "
            "zostały już pobrane.",
        )
    if code != 200:
        raise errors.bad_request(
            21301, f"Status uwierzytelniania ({code}) nie pozwala na pobranie tokenów."
        )
    if _token_revoked(sim, operation):
        raise errors.bad_request(21301, "Token KSeF został unieważniony.")
    operation.redeemed = True
    access = _issue_access(sim, operation)
    refresh_token, jti, valid_until = issue(sim, "RefreshToken", operation, sim.config.refresh_ttl)
    operation.refresh_jti = jti
    operation.refresh_valid_until = valid_until
    return Response(
        200,
        {
            "accessToken": access,
            "refreshToken": {"token": refresh_token, "validUntil": iso(valid_until)},
        },
    )


def refresh(sim, req):
    operation = req.principal.operation
    code, _description, _details = _status_triplet(sim, operation)
    if code != 200:
        raise errors.bad_request(
            21301,
            f"Status uwierzytelniania ({code}) nie pozwala na odświeżenie tokenu dostępowego.",
        )
    if _token_revoked(sim, operation):
        raise errors.bad_request(21301, "Token KSeF został unieważniony.")
    operation.last_refresh = sim.clock.now()
    return Response(200, {"accessToken": _issue_access(sim, operation)})


# --- sessions -------------------------------------------------------------------------------------


def _listed_sessions(sim, context):
    now = sim.clock.now()
    for operation in sim.state.operations.values():
        if operation.context != context or now < operation.ready_at or operation.status_code != 200:
            continue
        if operation.refresh_valid_until is not None and operation.refresh_valid_until <= now:
            continue
        if (
            operation.refresh_valid_until is None
            and now - operation.created > sim.config.operation_ttl
        ):
            continue
        yield operation


def list_sessions(sim, req):
    page_size = req.int_arg("pageSize", 10, 10, 100)
    cursor = decode_cursor(req.headers.get("x-continuation-token"))
    principal = req.principal
    operations = sorted(
        _listed_sessions(sim, principal.context),
        key=lambda o: (o.created, o.reference_number),
        reverse=True,
    )
    if cursor is not None:
        operations = [
            o for o in operations if (o.created, o.reference_number) < (cursor[0], cursor[1])
        ]
    page, more = operations[:page_size], len(operations) > page_size
    body = {
        "items": [operation_json(sim, o, current=o is principal.operation) for o in page],
    }
    if more:
        last = page[-1]
        body["continuationToken"] = encode_cursor(last.created, last.reference_number)
    return Response(200, body)


def revoke_current_session(sim, req):
    req.principal.operation.revoked = True
    return Response(204)


def revoke_session(sim, req):
    reference = req.params["ref"]
    if not REFERENCE_RE.match(reference):
        raise errors.validation("Nieprawidłowy numer referencyjny.")
    operation = sim.state.operations.get(reference)
    if operation is None or operation.context != req.principal.context:
        raise errors.bad_request(
            21304,
            f"Operacja uwierzytelniania o numerze referencyjnym {reference} "
            "nie została znaleziona.",
        )
    operation.revoked = True
    return Response(204)


# --- continuation tokens --------------------------------------------------------------------------


def encode_cursor(*values):
    raw = json.dumps({"v": 1, "k": list(values)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(text, size=2):
    """Decode an ``x-continuation-token``; ``None`` when absent; 400 21418 when malformed."""
    if text is None or text.strip() == "":
        return None
    try:
        if len(text) > 1024:
            raise ValueError
        data = json.loads(base64.urlsafe_b64decode(text.strip().encode("ascii")))
        values = data["k"]
        if data.get("v") != 1 or not isinstance(values, list) or len(values) != size:
            raise ValueError
        if not isinstance(values[0], int | float) or isinstance(values[0], bool):
            raise ValueError
        return tuple(values)
    except (ValueError, KeyError, TypeError, UnicodeError):
        raise errors.bad_request(21418) from None
