"""Permission, limit, test-data and invoice endpoints: the caller's own permissions
(``/permissions/query/personal/grants``), grants to others (``/permissions/persons/grants``,
``/permissions/subunits/grants`` and their queries), ``/permissions/query/entities/roles``,
``GET /rate-limits``, ``/limits/context`` and ``/limits/subject``, ``/testdata/person`` and
``/testdata/context/block|unblock``, and invoice metadata (``/invoices/query/metadata``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid

from . import errors
from .clock import iso, parse_iso
from .config import EFFECTIVE_GROUPS
from .state import (
    NIP_RE,
    PESEL_RE,
    as_subject,
    context_json,
    context_nip,
    context_problem,
    internal_id_valid,
    new_reference,
    nip_valid,
)
from .web import Response, require_enum_list, require_obj, require_str

GRANTABLE = (
    "CredentialsManage",
    "CredentialsRead",
    "InvoiceWrite",
    "InvoiceRead",
    "Introspection",
    "SubunitManage",
    "EnforcementOperations",
    "CollectiveIdentifierManage",  # PersonPermissionType since API 2.7.0
)
PERSONAL_SCOPES = GRANTABLE + ("VatUeManage",)
SUBJECT_TYPES = ("Nip", "Pesel", "Fingerprint")
MAX_QUERY_DAYS = 92  # "at most 3 months"
MAX_RESULTS = 10_000


# --- shared request parts ---------------------------------------------------------------------


def _page_args(req, max_size=100):
    """``(pageOffset, pageSize)`` of a query: offset from 0, size 10 to ``max_size``."""
    return req.int_arg("pageOffset", 0, 0, 1_000_000), req.int_arg("pageSize", 10, 10, max_size)


def _page(items, page_offset, page_size, key="permissions"):
    first = page_offset * page_size
    page = items[first : first + page_size]
    return Response(200, {key: page, "hasMore": len(items) > first + page_size})


def _paged(req, items, key="permissions"):
    return _page(items, *_page_args(req), key=key)


def _permission_state(body):
    """The optional ``permissionState`` filter of a permission query."""
    state_filter = body.get("permissionState")
    if state_filter is not None and state_filter not in ("Active", "Inactive"):
        raise errors.validation("Nieprawidłowa wartość pola permissionState.")
    return state_filter


def _grant_subject(body):
    """The ``subjectIdentifier`` of a grant request as a subject (fingerprints upper-cased)."""
    subject_json = require_obj(body, "subjectIdentifier")
    stype = require_str(subject_json, "type", where="subjectIdentifier.")
    svalue = require_str(subject_json, "value", min_len=10, max_len=64, where="subjectIdentifier.")
    if stype not in SUBJECT_TYPES:
        raise errors.validation("Nieprawidłowy typ identyfikatora podmiotu.")
    if stype == "Nip" and not nip_valid(svalue):
        raise errors.validation("Nieprawidłowy NIP.")
    return as_subject((stype, svalue.upper() if stype == "Fingerprint" else svalue))


def _require_subject_details(body):
    details = require_obj(body, "subjectDetails")
    require_str(details, "subjectDetailsType", where="subjectDetails.")


def _permission_operation_started(sim, now):
    """202 with a new permission operation (``GET /permissions/operations/{ref}``: done)."""
    reference = new_reference("EG", now)
    sim.state.permission_operations[reference] = now
    return Response(202, {"referenceNumber": reference})


# --- permissions ------------------------------------------------------------------------------


def personal_grants(sim, req):
    """The caller's own permissions in the current context (for a token session: what the
    session may use, i.e. the token's permissions the author still holds)."""
    page_offset, page_size = _page_args(req)
    body = req.json(required=False)
    types = require_enum_list(body, "permissionTypes", PERSONAL_SCOPES, required=False)
    state_filter = _permission_state(body)
    ctx_filter = require_obj(body, "contextIdentifier", required=False)
    if ctx_filter is not None:
        require_str(ctx_filter, "type", where="contextIdentifier.")
        require_str(ctx_filter, "value", where="contextIdentifier.", max_len=16)
    target = require_obj(body, "targetIdentifier", required=False)

    principal = req.principal
    operation = principal.operation
    context = operation.context
    from .auth import session_permissions

    permissions = session_permissions(sim, operation)
    grants = {
        g.permission: g
        for g in sim.state.grants
        if g.context == context
        and operation.subject is not None
        and sim.state.same_author(g.subject, operation.subject)
    }
    items = []
    for permission in sorted(permissions):
        if permission not in PERSONAL_SCOPES:
            continue
        grant = grants.get(permission)
        if grant is not None:
            pid, description, start = grant.id, grant.description, grant.start
        else:
            pid = str(
                uuid.uuid5(
                    uuid.NAMESPACE_URL, f"ksef-sim:{context}:{operation.subject}:{permission}"
                )
            )
            description, start = "Uprawnienia właścicielskie", sim.created
        item = {
            "id": pid,
            "permissionScope": permission,
            "description": description,
            "permissionState": "Active",
            "startDate": iso(start),
            "canDelegate": False,
        }
        if context[0] in ("Nip", "InternalId"):
            item["contextIdentifier"] = context_json(context)
        if operation.subject is not None:
            item["authorizedIdentifier"] = operation.subject.to_json()
        items.append(item)
    if types:
        items = [i for i in items if i["permissionScope"] in types]
    if state_filter == "Inactive":
        items = []
    if ctx_filter is not None and (ctx_filter.get("type"), ctx_filter.get("value")) != context:
        items = []
    if target is not None:
        items = []  # no indirect permissions in the simulator
    return _page(items, page_offset, page_size)


def grant_persons(sim, req):
    body = req.json()
    subject = _grant_subject(body)
    permissions = require_enum_list(body, "permissions", GRANTABLE)
    if not permissions:
        raise errors.validation("Pole permissions musi zawierać co najmniej jedno uprawnienie.")
    description = require_str(body, "description", min_len=5, max_len=256)
    _require_subject_details(body)
    now = sim.clock.now()
    for permission in permissions:
        sim.state.add_grant(req.principal.context, subject, permission, description, now)
    return _permission_operation_started(sim, now)


def permission_operation(sim, req):
    reference = req.params["ref"]
    if reference not in sim.state.permission_operations:
        raise errors.validation(
            f"Operacja o numerze referencyjnym {reference} nie została znaleziona."
        )
    return Response(200, {"status": {"code": 200, "description": "Operacja zakończona sukcesem"}})


def revoke_common_grant(sim, req):
    """``DELETE /permissions/common/grants/{permissionId}``: remove a grant of this context.

    Owner permissions are not grants and cannot be revoked (400 21405)."""
    permission_id = req.params["ref"]
    context = req.principal.context
    grant = next(
        (g for g in sim.state.grants if g.id == permission_id and g.context == context), None
    )
    if grant is None:
        raise errors.validation(f"Uprawnienie o identyfikatorze {permission_id} nie istnieje.")
    sim.state.grants.remove(grant)
    return _permission_operation_started(sim, sim.clock.now())


def grant_subunit(sim, req):
    """``POST /permissions/subunits/grants``: appoint the administrator of a subunit.

    The subject gets ``CredentialsManage`` (the only permission of a subunit administrator,
    granted without being asked for) in the subunit's context: an ``InternalId`` of the
    current NIP (with a valid check digit), or a subordinate ``Nip``; the simulator has no
    LocalGovernmentUnit / VatGroupUnit roles, so a ``Nip`` subunit is refused with 21405.
    """
    body = req.json()
    subject = _grant_subject(body)
    ctx_json = require_obj(body, "contextIdentifier")
    ctype = require_str(ctx_json, "type", where="contextIdentifier.")
    cvalue = require_str(ctx_json, "value", min_len=10, max_len=16, where="contextIdentifier.")
    if ctype not in ("InternalId", "Nip"):
        raise errors.validation("Nieprawidłowy typ identyfikatora kontekstu.")
    require_str(body, "description", min_len=5, max_len=256)
    if body.get("subunitName") is not None:
        require_str(body, "subunitName", min_len=5, max_len=256)
    _require_subject_details(body)
    current = req.principal.context
    own_nip = context_nip(current)
    if ctype == "Nip":
        raise errors.validation(
            "Nadanie uprawnień w kontekście NIP podmiotu podrzędnego wymaga roli "
            "LocalGovernmentUnit lub VatGroupUnit."
        )
    if not internal_id_valid(cvalue):
        raise errors.validation("Invalid checksum for internalId.")
    if current[0] != "Nip" or cvalue.split("-", 1)[0] != own_nip:
        raise errors.validation(
            "Identyfikator wewnętrzny musi należeć do podmiotu bieżącego kontekstu."
        )
    now = sim.clock.now()
    sim.state.add_grant(
        ("InternalId", cvalue), subject, "CredentialsManage", body["description"], now
    )
    return _permission_operation_started(sim, now)


def _owner_json(context):
    """The simulator records no grant author: the owner (the context's NIP) stands in."""
    return {"type": "Nip", "value": context_nip(context)}


def query_subunit_grants(sim, req):
    """``POST /permissions/query/subunits/grants``: subunit administrators appointed in the
    current (NIP) context, optionally of one ``subunitIdentifier``."""
    body = req.json(required=False)
    wanted = require_obj(body, "subunitIdentifier", required=False)
    if wanted is not None:
        require_str(wanted, "type", where="subunitIdentifier.")
        require_str(wanted, "value", where="subunitIdentifier.", min_len=10, max_len=16)
    context = req.principal.context
    nip = context_nip(context)
    items = [
        {
            "id": g.id,
            "authorizedIdentifier": g.subject.to_json(),
            "subunitIdentifier": context_json(g.context),
            "authorIdentifier": _owner_json(context),
            "permissionScope": "CredentialsManage",
            "description": g.description,
            "startDate": iso(g.start),
        }
        for g in sim.state.grants
        if g.context[0] == "InternalId"
        and g.context[1].split("-", 1)[0] == nip
        and g.permission == "CredentialsManage"
        and (wanted is None or (wanted.get("type"), wanted.get("value")) == g.context)
    ]
    return _paged(req, items)


PERSON_QUERY_TYPES = ("PermissionsInCurrentContext", "PermissionsGrantedInCurrentContext")


def query_person_grants(sim, req):
    """``POST /permissions/query/persons/grants``: permissions granted in the current context
    (both query types list the same grants: the simulator knows no other contexts' grants)."""
    body = req.json()
    query_type = require_str(body, "queryType")
    if query_type not in PERSON_QUERY_TYPES:
        raise errors.validation("Nieprawidłowa wartość pola queryType.")
    types = require_enum_list(body, "permissionTypes", GRANTABLE, required=False)
    state_filter = _permission_state(body)
    context = req.principal.context
    items = [
        {
            "id": g.id,
            "authorizedIdentifier": g.subject.to_json(),
            "contextIdentifier": context_json(g.context),
            "authorIdentifier": _owner_json(context),
            "permissionScope": g.permission,
            "description": g.description,
            "permissionState": "Active",
            "startDate": iso(g.start),
            "canDelegate": False,
        }
        for g in sim.state.grants
        if g.context == context
        and g.permission in GRANTABLE
        and (not types or g.permission in types)
        and state_filter != "Inactive"
    ]
    return _paged(req, items)


def query_entity_roles(sim, req):
    """``GET /permissions/query/entities/roles``: the simulator's contexts have no entity
    roles (no LocalGovernmentUnit, VatGroupUnit, ...): always an empty list."""
    return _paged(req, [], key="roles")


# --- test data (Test environment only) ---------------------------------------------------------


def testdata_person(sim, req):
    """``POST /testdata/person``: a person who owns ``nip`` (NIP-PESEL link); a bailiff also
    gets ``EnforcementOperations`` there. 200 without a body."""
    body = req.json()
    nip = require_str(body, "nip", min_len=10, max_len=10)
    pesel = require_str(body, "pesel", min_len=11, max_len=11)
    if not nip_valid(nip):
        raise errors.validation("Nieprawidłowy NIP.")
    if not PESEL_RE.match(pesel):
        raise errors.validation("Nieprawidłowy PESEL.")
    bailiff = body.get("isBailiff")
    if not isinstance(bailiff, bool):
        raise errors.validation("Pole isBailiff jest wymagane (true/false).")
    description = require_str(body, "description", min_len=5, max_len=256)
    sim.state.person_links[pesel] = nip
    if bailiff:
        sim.state.add_grant(
            ("Nip", nip),
            as_subject(("Pesel", pesel)),
            "EnforcementOperations",
            description,
            sim.clock.now(),
        )
    return Response(200)


def _testdata_context(req):
    body = req.json()
    ctx = require_obj(body, "contextIdentifier")
    ctype = require_str(ctx, "type", where="contextIdentifier.")
    cvalue = require_str(ctx, "value", where="contextIdentifier.", max_len=64)
    problem = context_problem(ctype, cvalue)
    if problem:
        raise errors.validation(problem)
    return (ctype, cvalue)


def testdata_block_context(sim, req):
    """``POST /testdata/context/block``: authentication in the context ends with 480."""
    sim.state.blocked_contexts.add(_testdata_context(req))
    return Response(200)


def testdata_unblock_context(sim, req):
    """``POST /testdata/context/unblock``: authentication in the context works again."""
    sim.state.blocked_contexts.discard(_testdata_context(req))
    return Response(200)


# --- limits -----------------------------------------------------------------------------------

#: ``GET /limits/context`` of the Test environment (the spec's example values)
CONTEXT_LIMITS = {
    "onlineSession": {
        "maxInvoiceSizeInMB": 1,
        "maxInvoiceWithAttachmentSizeInMB": 3,
        "maxInvoices": 10000,
    },
    "batchSession": {
        "maxInvoiceSizeInMB": 1,
        "maxInvoiceWithAttachmentSizeInMB": 3,
        "maxInvoices": 10000,
    },
    "collectiveIdentifier": {"maxInvoices": 500},  # required since API 2.8.0
}
#: ``GET /limits/subject`` (the spec's example values)
SUBJECT_LIMITS = {"enrollment": {"maxEnrollments": 12}, "certificate": {"maxCertificates": 6}}


def context_limits(sim, req):
    """``GET /limits/context``: the session limits of the current context."""
    return Response(200, {k: dict(v) for k, v in CONTEXT_LIMITS.items()})


def subject_limits(sim, req):
    """``GET /limits/subject``: the certificate limits of the authenticated subject."""
    return Response(200, {k: dict(v) for k, v in SUBJECT_LIMITS.items()})


# --- rate limits ------------------------------------------------------------------------------


def rate_limits(sim, req):
    """The limits table (reported even when enforcement is switched off in the config)."""
    table = sim.config.rate_limit_table()
    body = {}
    for group in EFFECTIVE_GROUPS:
        s, m, h = table["public" if group == "anonymous" else group]
        # a window without a limit is reported as -1, as KSeF does (API 2.8 example)
        body[group] = {
            "perSecond": -1 if s is None else s,
            "perMinute": -1 if m is None else m,
            "perHour": -1 if h is None else h,
        }
    return Response(200, body)


# --- invoices ---------------------------------------------------------------------------------


def make_invoice(
    seller_nip,
    *,
    buyer_nip=None,
    now,
    issue_date=None,
    invoice_number=None,
    net=100.0,
    vat=23.0,
    currency="PLN",
    third_subjects=(),
    seller_name=None,
    buyer_name=None,
    invoice_type="Vat",
    invoicing_mode="Online",
    permanent_storage=None,
):
    """A schema-valid ``InvoiceMetadata`` object."""
    if not nip_valid(seller_nip):
        raise ValueError("seller_nip must be a valid NIP")
    storage = permanent_storage if permanent_storage is not None else now
    day = time.strftime("%Y%m%d", time.gmtime(storage))
    ksef_number = (
        f"{seller_nip}-{day}-{secrets.token_hex(6).upper()}-{secrets.token_hex(1).upper()}"
    )
    issue = issue_date or time.strftime("%Y-%m-%d", time.gmtime(storage))
    buyer = (
        {"identifier": {"type": "Nip", "value": buyer_nip}, "name": buyer_name or "Nabywca testowy"}
        if buyer_nip
        else {"identifier": {"type": "None"}, "name": buyer_name or "Nabywca"}
    )
    digest = base64.b64encode(hashlib.sha256(ksef_number.encode()).digest()).decode()
    return {
        "ksefNumber": ksef_number,
        "invoiceNumber": invoice_number or f"FV/{secrets.token_hex(3).upper()}",
        "issueDate": issue,
        "invoicingDate": iso(storage - 60),
        "acquisitionDate": iso(storage - 30),
        "permanentStorageDate": iso(storage),
        "seller": {"nip": seller_nip, "name": seller_name or f"Sprzedawca {seller_nip}"},
        "buyer": buyer,
        "netAmount": round(float(net), 2),
        "grossAmount": round(float(net) + float(vat), 2),
        "vatAmount": round(float(vat), 2),
        "currency": currency,
        "invoicingMode": invoicing_mode,
        "invoiceType": invoice_type,
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "isSelfInvoicing": False,
        "hasAttachment": False,
        "invoiceHash": digest,
        "thirdSubjects": [dict(s) for s in third_subjects],
    }


def _subject_match(invoice, subject_type, context):
    ctype, value = context
    nip = context_nip(context)
    if subject_type == "Subject1":
        return ctype == "Nip" and invoice["seller"]["nip"] == nip
    if subject_type == "Subject2":
        ident = invoice["buyer"]["identifier"]
        return ctype == "Nip" and ident.get("type") == "Nip" and ident.get("value") == nip
    if subject_type == "Subject3":
        return any(
            s["identifier"].get("value") == value for s in invoice.get("thirdSubjects") or ()
        )
    if subject_type == "SubjectAuthorized":
        auth = invoice.get("authorizedSubject")
        return bool(auth) and auth.get("nip") == nip
    return False


DATE_FIELDS = {
    "Issue": "issueDate",
    "Invoicing": "invoicingDate",
    "PermanentStorage": "permanentStorageDate",
}


def query_metadata(sim, req):
    sort_order = req.arg("sortOrder") or "Asc"
    if sort_order not in ("Asc", "Desc"):
        raise errors.validation("Nieprawidłowa wartość parametru sortOrder.")
    page_offset, page_size = _page_args(req, max_size=250)
    body = req.json()
    subject_type = require_str(body, "subjectType")
    if subject_type not in ("Subject1", "Subject2", "Subject3", "SubjectAuthorized"):
        raise errors.validation("Nieprawidłowa wartość pola subjectType.")
    date_range = require_obj(body, "dateRange")
    date_type = require_str(date_range, "dateType", where="dateRange.")
    if date_type not in DATE_FIELDS:
        raise errors.validation("Nieprawidłowa wartość pola dateRange.dateType.")
    try:
        start = parse_iso(require_str(date_range, "from", where="dateRange."))
        end_text = require_str(date_range, "to", where="dateRange.", required=False)
        end = parse_iso(end_text) if end_text is not None else None
    except ValueError:
        raise errors.validation("Nieprawidłowy format daty w dateRange.") from None
    if end is not None and end < start:
        raise errors.validation("Data dateRange.to jest wcześniejsza niż dateRange.from.")
    if (end if end is not None else sim.clock.now()) - start > MAX_QUERY_DAYS * 86400:
        raise errors.validation("Zakres dat nie może przekraczać 3 miesięcy.")
    ksef_number = require_str(body, "ksefNumber", required=False, max_len=36)
    invoice_number = require_str(body, "invoiceNumber", required=False, max_len=256)
    seller_nip = require_str(body, "sellerNip", required=False, max_len=10)
    if seller_nip is not None and not NIP_RE.match(seller_nip):
        raise errors.validation("Nieprawidłowy NIP sprzedawcy.")

    field = DATE_FIELDS[date_type]
    context = req.principal.context
    matched = []
    for invoice in sim.state.invoices:
        if not _subject_match(invoice, subject_type, context):
            continue
        stamp = parse_iso(invoice[field] + ("T00:00:00+00:00" if field == "issueDate" else ""))
        if stamp < start or (end is not None and stamp > end):
            continue
        if ksef_number and invoice["ksefNumber"] != ksef_number:
            continue
        if invoice_number and invoice["invoiceNumber"] != invoice_number:
            continue
        if seller_nip and invoice["seller"]["nip"] != seller_nip:
            continue
        matched.append((stamp, invoice["ksefNumber"], invoice))
    matched.sort(key=lambda x: (x[0], x[1]), reverse=sort_order == "Desc")
    truncated = len(matched) > MAX_RESULTS
    matched = matched[:MAX_RESULTS]
    first = page_offset * page_size
    page = [item[2] for item in matched[first : first + page_size]]
    has_more = len(matched) > first + page_size or (truncated and first + page_size >= MAX_RESULTS)
    return Response(
        200,
        {
            "hasMore": has_more,
            "isTruncated": truncated and first + page_size >= MAX_RESULTS,
            "permanentStorageHwmDate": iso(sim.clock.now()),
            "invoices": page,
        },
    )
