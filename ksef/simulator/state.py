"""In-memory state of the simulator: challenges, authentication operations, KSeF tokens,
permission grants and invoices, plus the identifier rules it needs.

Nothing here locks: :class:`~.app.KsefSimulator` holds one re-entrant lock around every
request and every test-support call.  Secrets are never stored in clear: a token's secret
is kept as its SHA-256 digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
import time

from ..models import Identifier
from ..permissions import TOKEN_PERMISSIONS as _TOKEN_PERMISSIONS

NIP_RE = re.compile(r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}$")
INTERNAL_ID_RE = re.compile(r"^([1-9]((\d[1-9])|([1-9]\d))\d{7})-(\d{5})$")
NIP_VAT_UE_RE = re.compile(r"^([1-9]((\d[1-9])|([1-9]\d))\d{7})-([A-Z]{2}[0-9A-Z+*]{2,12})$")
PEPPOL_RE = re.compile(r"^P[A-Z]{2}[0-9]{6}$")
PESEL_RE = re.compile(r"^\d{11}$")
FINGERPRINT_RE = re.compile(r"^[0-9A-Fa-f]{64}$")
REFERENCE_RE = re.compile(r"^\d{8}-[A-Z]{2}-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}$")
CHALLENGE_RE = re.compile(r"^\d{8}-CR-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}$")
SECRET_RE = re.compile(r"^[0-9a-f]{64}$")

CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
TOKEN_CONTEXT_TYPES = ("Nip", "InternalId")

#: TokenPermissionType of API 2.6.0 plus ``CollectiveIdentifierManage`` (API 2.7.0)
TOKEN_PERMISSIONS = _TOKEN_PERMISSIONS
#: PersonPermissionType (what ``grant`` / ``POST /permissions/persons/grants`` accept)
PERSON_PERMISSIONS = TOKEN_PERMISSIONS + ("VatUeManage",)
TOKEN_STATUSES = ("Pending", "Active", "Revoking", "Revoked", "Failed")


# --- identifiers ------------------------------------------------------------------------------


def nip_valid(nip):
    """NIP check digit: weights 6,5,7,2,3,4,5,6,7, sum mod 11 equals the 10th digit."""
    if not isinstance(nip, str) or not NIP_RE.match(nip):
        return False
    total = sum(int(d) * w for d, w in zip(nip[:9], (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=False))
    return total % 11 == int(nip[9])


def internal_id_valid(value):
    """InternalId ``NIP-ddddd``: valid NIP, 5th digit = sum(w*d, 14 digits) mod 10, w=1,3,1,3…"""
    match = INTERNAL_ID_RE.match(value or "") if isinstance(value, str) else None
    if not match or not nip_valid(match.group(1)):
        return False
    digits = match.group(1) + match.group(5)[:4]
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    return total % 10 == int(match.group(5)[4])


def internal_id_with_check_digit(nip, four_digits):
    """Build a valid InternalId from a NIP and a 4-digit unit number (test helper)."""
    digits = nip + four_digits
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    return f"{nip}-{four_digits}{total % 10}"


def context_problem(ctype, value):
    """A validation message when ``(ctype, value)`` is not a well-formed context, else ``None``."""
    if ctype not in CONTEXT_TYPES:
        return f"Nieprawidłowy typ identyfikatora kontekstu: {str(ctype)[:20]!r}."
    if not isinstance(value, str) or not value or len(value) > 64:
        return "Nieprawidłowa wartość identyfikatora kontekstu."
    if ctype == "Nip" and not nip_valid(value):
        return "Nieprawidłowy NIP (format lub suma kontrolna)."
    if ctype == "InternalId" and not internal_id_valid(value):
        return "Invalid checksum for internalId."
    if ctype == "NipVatUe" and not NIP_VAT_UE_RE.match(value):
        return "Nieprawidłowy identyfikator NipVatUe."
    if ctype == "PeppolId" and not PEPPOL_RE.match(value):
        return "Nieprawidłowy identyfikator PeppolId."
    return None


def context_nip(context):
    """The NIP a context belongs to (``Nip`` / ``InternalId`` / ``NipVatUe``), else ``None``."""
    ctype, value = context
    if ctype == "Nip":
        return value
    if ctype in ("InternalId", "NipVatUe"):
        return value.split("-", 1)[0]
    return None


def as_context(context):
    """Normalize a context: ``'5265877635'``, ``'5265877635-12343'``, ``('Nip', v)``,
    :class:`~ksef.models.Identifier`, an ``identifiers.ContextIdentifier`` or a JSON dict."""
    if isinstance(context, str):
        value = context.strip()
        if INTERNAL_ID_RE.match(value):
            return ("InternalId", value)
        if NIP_VAT_UE_RE.match(value):
            return ("NipVatUe", value)
        if PEPPOL_RE.match(value):
            return ("PeppolId", value)
        digits = value.replace("-", "")
        return ("Nip", digits)
    if isinstance(context, dict):
        return (context["type"], context["value"])
    if isinstance(context, tuple) and len(context) == 2:
        return (str(context[0]), str(context[1]))
    ctype = getattr(context, "type", None) or getattr(context, "kind", None)
    value = getattr(context, "value", None)
    if ctype is None or value is None:
        raise TypeError(f"cannot use {type(context).__name__} as a KSeF context")
    ctype = {
        "nip": "Nip",
        "internalid": "InternalId",
        "internal_id": "InternalId",
        "nipvatue": "NipVatUe",
        "peppolid": "PeppolId",
    }.get(str(ctype).lower(), str(ctype))
    return (ctype, str(value))


def as_subject(subject):
    """Normalize a subject to :class:`~ksef.models.Identifier` (``'5265877635'`` = NIP,
    11 digits = PESEL, 64 hex = certificate fingerprint)."""
    if isinstance(subject, Identifier):
        return subject
    if isinstance(subject, str):
        value = subject.strip()
        if NIP_RE.match(value):
            return Identifier("Nip", value)
        if PESEL_RE.match(value):
            return Identifier("Pesel", value)
        if FINGERPRINT_RE.match(value):
            return Identifier("Fingerprint", value.upper())
        raise ValueError("cannot tell the identifier type of that subject")
    if isinstance(subject, tuple) and len(subject) == 2:
        return Identifier(str(subject[0]), str(subject[1]))
    if isinstance(subject, dict):
        return Identifier(subject["type"], subject["value"])
    return Identifier(subject.type, subject.value)


def context_json(context):
    return {"type": context[0], "value": context[1]}


# --- reference numbers ------------------------------------------------------------------------


def new_reference(kind, now):
    """``YYYYMMDD-<kind>-<10 hex>-<10 hex>-<2 hex>`` (36 characters), like KSeF's."""
    day = time.strftime("%Y%m%d", time.gmtime(now))
    a = secrets.token_hex(5).upper()
    b = secrets.token_hex(5).upper()
    body = f"{day}-{kind}-{a}-{b}"
    check = sum(body.encode("ascii")) % 256
    return f"{body}-{check:02X}"


# --- records ----------------------------------------------------------------------------------


@dataclasses.dataclass
class ChallengeRecord:
    value: str
    created: float
    timestamp_ms: int
    client_ip: str
    used: bool = False


@dataclasses.dataclass
class AuthOperation:
    """One authentication (``…-AU-…``): its outcome, and once redeemed its refresh state."""

    reference_number: str
    created: float
    context: tuple
    method: str  # AuthenticationMethod (deprecated enum)
    method_info: dict  # AuthenticationMethodInfo
    subject: Identifier | None
    client_ip: str
    ready_at: float  # status 100 until then
    status_code: int = 200
    status_description: str = "Uwierzytelnianie zakończone sukcesem"
    status_details: tuple = ()
    token_reference: str | None = None  # the KSeF token used, for Token auth
    allowed_ips: dict | None = None  # AuthorizationPolicy.allowedIps JSON
    redeemed: bool = False
    refresh_jti: str | None = None
    refresh_valid_until: float | None = None
    last_refresh: float | None = None
    revoked: bool = False  # status 425 after DELETE /auth/sessions/...
    #: XAdES logins: the DN of the signing certificate (``ksef.models.EnrollmentData``), what
    #: ``GET /certificates/enrollments/data`` answers; ``None`` for token logins
    enrollment_data: object = None
    #: the serial number of the KSeF certificate used (InternalCertificate logins)
    certificate_serial: str | None = None


@dataclasses.dataclass
class AccessGrant:
    """Server-side data of one issued access token (JWT ``jti``)."""

    session: str  # auth operation reference number
    context: tuple
    permissions: frozenset
    expires: float


@dataclasses.dataclass
class TokenRecord:
    reference_number: str
    context: tuple
    author: Identifier
    description: str
    permissions: tuple
    secret_digest: bytes = dataclasses.field(repr=False)
    created: float
    seq: int
    status: str = "Pending"
    activate_at: float | None = None
    revoke_at: float | None = None
    last_use: float | None = None
    status_details: tuple = ()

    def effective_status(self, now):
        """Apply the timed transitions Pending -> Active and Revoking -> Revoked."""
        if self.status == "Pending" and self.activate_at is not None and now >= self.activate_at:
            self.status = "Active"
        if self.status == "Revoking" and self.revoke_at is not None and now >= self.revoke_at:
            self.status = "Revoked"
        return self.status

    def secret_matches(self, secret):
        return hmac.compare_digest(self.secret_digest, digest(secret))

    def to_json(self, now):
        from .clock import iso

        return {
            "referenceNumber": self.reference_number,
            "authorIdentifier": self.author.to_json(),
            "contextIdentifier": context_json(self.context),
            "description": self.description,
            "requestedPermissions": list(self.permissions),
            "dateCreated": iso(self.created),
            "lastUseDate": iso(self.last_use),
            "status": self.effective_status(now),
            "statusDetails": list(self.status_details),
        }


@dataclasses.dataclass
class Grant:
    """A permission held by ``subject`` in ``context`` (not the owner's implicit ones)."""

    id: str
    context: tuple
    subject: Identifier
    permission: str
    description: str
    start: float


@dataclasses.dataclass
class EnrollmentRecord:
    """One certificate enrolment (``…-EH-…``): status 100 until ``ready_at``, then issued
    (200, ``serial``) or rejected (400 with details)."""

    reference_number: str
    subject: Identifier
    name: str
    certificate_type: str  # Authentication / Offline
    csr_der: bytes = dataclasses.field(repr=False)
    spki: bytes = dataclasses.field(repr=False)  # the CSR public key, DER SubjectPublicKeyInfo
    created: float
    ready_at: float
    valid_from: float | None = None
    status_code: int = 100
    status_description: str = "Wniosek przyjęty do realizacji"
    status_details: tuple = ()
    serial: str | None = None


@dataclasses.dataclass
class CertificateRecord:
    """A KSeF certificate the simulator CA issued."""

    serial: str  # 16 upper-case hex digits
    name: str
    certificate_type: str  # Authentication / Offline
    subject: Identifier  # the identity it carries (who requested it)
    common_name: str
    der: bytes = dataclasses.field(repr=False)
    spki: bytes = dataclasses.field(repr=False)
    valid_from: float
    valid_to: float
    request_date: float
    status: str = "Active"  # Active / Blocked / Revoked (Expired is computed)
    last_use: float | None = None
    revocation_reason: str | None = None
    seq: int = 0

    def effective_status(self, now):
        if self.status == "Active" and now >= self.valid_to:
            return "Expired"
        return self.status

    def to_json(self, now):
        from .clock import iso

        return {
            "certificateSerialNumber": self.serial,
            "name": self.name,
            "type": self.certificate_type,
            "commonName": self.common_name,
            "status": self.effective_status(now),
            "subjectIdentifier": self.subject.to_json(),
            "validFrom": iso(self.valid_from),
            "validTo": iso(self.valid_to),
            "lastUseDate": iso(self.last_use),
            "requestDate": iso(self.request_date),
        }


def digest(secret):
    return hashlib.sha256(secret.encode("utf-8")).digest()


def token_context_part(context):
    """The middle part of a token string: ``nip-NIP`` or ``internalId-NIP-ddddd``."""
    ctype, value = context
    return f"nip-{value}" if ctype == "Nip" else f"internalId-{value}"


def parse_token_string(text):
    """Split ``ref|nip-X|secret`` / ``ref|internalId-X-Y|secret``.

    Returns ``(reference, context, secret)`` or ``None`` when the text is not shaped like a
    KSeF 2.0 token (prefix matched case-insensitively).
    """
    if not isinstance(text, str) or len(text) > 200:
        return None
    parts = text.strip().split("|")
    if len(parts) != 3:
        return None
    reference, ctx, secret = parts
    if not REFERENCE_RE.match(reference) or reference[9:11] != "EC":
        return None
    lowered = ctx.lower()
    if lowered.startswith("nip-"):
        context = ("Nip", ctx[4:])
    elif lowered.startswith("internalid-"):
        context = ("InternalId", ctx[11:])
    else:
        return None
    if context_problem(*context) or not SECRET_RE.match(secret):
        return None
    return reference, context, secret


class State:
    """All mutable data of one simulator."""

    def __init__(self):
        self.challenges = {}  # value -> ChallengeRecord
        self.operations = {}  # reference -> AuthOperation
        self.access = {}  # jti -> AccessGrant
        self.tokens = {}  # reference -> TokenRecord
        self.grants = []  # [Grant]
        self.person_links = {}  # PESEL -> NIP (owner through the NIP-PESEL link)
        self.invoices = []  # [dict] (InvoiceMetadata JSON plus private keys)
        self.permission_operations = {}  # EG reference -> status code
        self.blocked_contexts = set()  # (type, value): authentication ends with 480
        self.token_seq = 0
        self.enrollments = {}  # EH reference -> EnrollmentRecord
        self.certificates = {}  # serial -> CertificateRecord (KSeF certificates issued)

    # --- permissions ---

    def is_owner(self, subject, context):
        """Owner: the context's NIP (or a PESEL linked to it); Nip and valid InternalId contexts."""
        if subject is None:
            return False
        ctype, value = context
        if ctype not in ("Nip", "InternalId"):
            return False
        nip = context_nip(context)
        if ctype == "InternalId" and not internal_id_valid(value):
            return False
        if subject.type == "Nip":
            return subject.value == nip
        if subject.type == "Pesel":
            return self.person_links.get(subject.value) == nip
        return False

    def permissions_of(self, subject, context, owner_permissions):
        """Every permission ``subject`` currently holds in ``context``."""
        held = set()
        if subject is None:
            return held
        if self.is_owner(subject, context):
            held.update(owner_permissions)
        for grant in self.grants:
            if grant.context == context and _same_subject(grant.subject, subject):
                held.add(grant.permission)
        return held

    def add_grant(self, context, subject, permission, description, now):
        for grant in self.grants:
            if (
                grant.context == context
                and _same_subject(grant.subject, subject)
                and grant.permission == permission
            ):
                return grant
        import uuid

        grant = Grant(str(uuid.uuid4()), context, subject, permission, description, now)
        self.grants.append(grant)
        return grant

    def remove_grants(self, context, subject, permissions=None):
        before = len(self.grants)
        self.grants = [
            g
            for g in self.grants
            if not (
                g.context == context
                and _same_subject(g.subject, subject)
                and (permissions is None or g.permission in permissions)
            )
        ]
        return before - len(self.grants)

    def same_author(self, author, subject):
        """Author identity with the NIP–PESEL link."""
        if author is None or subject is None:
            return False
        if _same_subject(author, subject):
            return True
        pair = {author.type: author.value, subject.type: subject.value}
        if set(pair) == {"Nip", "Pesel"}:
            return self.person_links.get(pair["Pesel"]) == pair["Nip"]
        return False


def _same_subject(a, b):
    if a.type != b.type:
        return False
    if a.type == "Fingerprint":
        return a.value.upper() == b.value.upper()
    return a.value == b.value
