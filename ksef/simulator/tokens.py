"""KSeF token endpoints (``/tokens``), with the visibility rules of API 2.4.0+.

Visibility (REFERENCE §3.2–3.4, OpenAPI descriptions of ``GET /tokens`` and
``DELETE /tokens/{ref}``), evaluated with the session's permissions:

* ``CredentialsManage`` or ``CredentialsRead``: every token of the context is visible;
  ``CredentialsManage`` may revoke any of them;
* otherwise, a session authenticated with a KSeF token sees / may revoke only that token;
* otherwise, the caller sees / may revoke the tokens it authored (NIP–PESEL link included).

A token that exists in the context but is out of reach answers 403 ``missing-permissions``;
an unknown reference (or one of another context) answers 400 21405.
"""

from __future__ import annotations

import secrets

from . import errors
from .auth import decode_cursor, encode_cursor, session_permissions
from .state import (
    REFERENCE_RE,
    TOKEN_CONTEXT_TYPES,
    TOKEN_PERMISSIONS,
    TOKEN_STATUSES,
    TokenRecord,
    digest,
    new_reference,
    token_context_part,
)
from .web import Response, require_enum_list, require_str

AUTHOR_TYPES = ("Nip", "Pesel", "Fingerprint")


def create_token_record(sim, context, author, permissions, description, *, status=None):
    """Store a new token; return ``(record, full token string)``. The secret is not kept."""
    now = sim.clock.now()
    secret = secrets.token_hex(32)
    reference = new_reference("EC", now)
    sim.state.token_seq += 1
    record = TokenRecord(
        reference_number=reference,
        context=context,
        author=author,
        description=description,
        permissions=tuple(dict.fromkeys(permissions)),
        secret_digest=digest(secret),
        created=now,
        seq=sim.state.token_seq,
        status="Pending",
        activate_at=now + sim.config.token_activation_delay,
    )
    if status is not None and status != "Pending":
        record.status = status
        record.activate_at = None
        if status == "Revoking":
            record.revoke_at = now + sim.config.token_revocation_delay
    elif status == "Pending":
        record.activate_at = None  # stays Pending until set_token_status()
    sim.state.tokens[reference] = record
    return record, f"{reference}|{token_context_part(context)}|{secret}"


def generate(sim, req):
    principal = req.principal
    operation = principal.operation
    if principal.is_token_session and sim.config.require_xades_for_token_generation:
        raise errors.Forbidden("auth-method-not-allowed", {"authenticationMethodCategory": "Token"})
    body = req.json()
    permissions = require_enum_list(body, "permissions", TOKEN_PERMISSIONS)
    description = require_str(body, "description", min_len=5, max_len=256)
    if not permissions:
        raise errors.validation("Pole permissions musi zawierać co najmniej jedno uprawnienie.")
    if operation.context[0] not in TOKEN_CONTEXT_TYPES:
        raise errors.bad_request(
            26002,
            f"Bieżący typ kontekstu: {operation.context[0]}. "
            "Dozwolone typy kontekstu: Nip, InternalId.",
        )
    held = sim.state.permissions_of(
        operation.subject, operation.context, sim.config.owner_permissions
    )
    missing = [p for p in dict.fromkeys(permissions) if p not in held]
    if missing:
        raise errors.bad_request(26001, "Brakujące uprawnienia: " + ", ".join(missing) + ".")
    _record, token = create_token_record(
        sim, operation.context, operation.subject, permissions, description
    )
    return Response(202, {"referenceNumber": _record.reference_number, "token": token})


def _can_see(sim, principal, record):
    if record.context != principal.context:
        return False
    permissions = principal.permissions
    if "CredentialsManage" in permissions or "CredentialsRead" in permissions:
        return True
    if principal.is_token_session:
        return record.reference_number == principal.operation.token_reference
    return sim.state.same_author(record.author, principal.operation.subject)


def _can_revoke(sim, principal, record):
    if record.context != principal.context:
        return False
    if "CredentialsManage" in principal.permissions:
        return True
    if principal.is_token_session:
        return record.reference_number == principal.operation.token_reference
    return sim.state.same_author(record.author, principal.operation.subject)


def _lookup(sim, req, allowed, required):
    reference = req.params["ref"]
    if not REFERENCE_RE.match(reference):
        raise errors.validation("Nieprawidłowy numer referencyjny tokena.")
    record = sim.state.tokens.get(reference)
    if record is None or record.context != req.principal.context:
        raise errors.validation(f"Token o numerze referencyjnym {reference} nie został znaleziony.")
    if not allowed(sim, req.principal, record):
        raise errors.Forbidden(
            "missing-permissions",
            {
                "requiredAnyOfPermissions": list(required),
                "presentPermissions": sorted(req.principal.permissions),
            },
        )
    return record


def get_token(sim, req):
    record = _lookup(sim, req, _can_see, ("CredentialsManage", "CredentialsRead"))
    return Response(200, record.to_json(sim.clock.now()))


def revoke(sim, req):
    record = _lookup(sim, req, _can_revoke, ("CredentialsManage",))
    now = sim.clock.now()
    if record.effective_status(now) in ("Pending", "Active"):
        record.status = "Revoking"
        record.revoke_at = now + sim.config.token_revocation_delay
        record.effective_status(now)
    return Response(204)


def list_tokens(sim, req):
    statuses = req.query.get("status") or []
    for status in statuses:
        if status not in TOKEN_STATUSES:
            raise errors.validation("Nieprawidłowa wartość parametru status.")
    description = req.arg("description")
    if description is not None and len(description) < 3:
        raise errors.validation("Parametr description musi mieć co najmniej 3 znaki.")
    author = req.arg("authorIdentifier")
    if author is not None and len(author) < 3:
        raise errors.validation("Parametr authorIdentifier musi mieć co najmniej 3 znaki.")
    author_type = req.arg("authorIdentifierType")
    if author_type is not None and author_type not in AUTHOR_TYPES:
        raise errors.validation("Nieprawidłowa wartość parametru authorIdentifierType.")
    page_size = req.int_arg("pageSize", 10, 10, 100)
    cursor = decode_cursor(req.headers.get("x-continuation-token"))

    now = sim.clock.now()
    records = []
    for record in sim.state.tokens.values():
        if not _can_see(sim, req.principal, record):
            continue
        if statuses and record.effective_status(now) not in statuses:
            continue
        if description and description.lower() not in record.description.lower():
            continue
        if author_type and record.author.type != author_type:
            continue
        if author and author.lower() not in record.author.value.lower():
            continue
        records.append(record)
    records.sort(key=lambda r: (r.created, r.seq), reverse=True)
    if cursor is not None:
        records = [r for r in records if (r.created, r.seq) < (cursor[0], cursor[1])]
    page = records[:page_size]
    body = {"tokens": [r.to_json(now) for r in page]}
    if len(records) > page_size:
        body["continuationToken"] = encode_cursor(page[-1].created, page[-1].seq)
    return Response(200, body)


__all__ = [
    "create_token_record",
    "generate",
    "get_token",
    "revoke",
    "list_tokens",
    "session_permissions",
]
