"""Plain data objects exchanged between the KSeF client, its callers and the simulator.

Every field holding a secret (KSeF token, JWT) is declared with ``repr=False`` so that a
stray ``repr()`` in a log line or traceback never leaks it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime


@dataclasses.dataclass(frozen=True)
class Challenge:
    challenge: str
    timestamp: datetime
    timestamp_ms: int
    client_ip: str | None = None


@dataclasses.dataclass(frozen=True)
class PublicKeyCertificate:
    """One entry of ``GET /security/public-key-certificates``."""

    certificate_der: bytes = dataclasses.field(repr=False)
    valid_from: datetime
    valid_to: datetime
    usage: tuple  # of 'KsefTokenEncryption' / 'SymmetricKeyEncryption'
    certificate_id: str | None = None
    public_key_id: str | None = None


@dataclasses.dataclass(frozen=True)
class AuthorizationPolicy:
    """``AuthorizationPolicy/AllowedIps``: up to 10 entries of each list."""

    ip4_addresses: tuple = ()
    ip4_ranges: tuple = ()  # 'a.b.c.d-e.f.g.h'
    ip4_masks: tuple = ()  # 'a.b.c.d/nn'

    def to_json(self):
        return {
            "allowedIps": {
                "ip4Addresses": list(self.ip4_addresses),
                "ip4Ranges": list(self.ip4_ranges),
                "ip4Masks": list(self.ip4_masks),
            }
        }

    def __bool__(self):
        return bool(self.ip4_addresses or self.ip4_ranges or self.ip4_masks)


@dataclasses.dataclass(frozen=True)
class AuthInit:
    """202 answer of ``/auth/xades-signature`` and ``/auth/ksef-token``."""

    reference_number: str
    authentication_token: str = dataclasses.field(repr=False)
    valid_until: datetime | None = None


@dataclasses.dataclass(frozen=True)
class AuthStatus:
    """``GET /auth/{referenceNumber}``."""

    code: int
    description: str | None = None
    details: tuple = ()
    start_date: datetime | None = None
    authentication_method: str | None = None
    is_token_redeemed: bool | None = None
    refresh_token_valid_until: datetime | None = None
    #: ``authenticationMethodInfo.category`` (XadesSignature / NationalNode / Token / Other);
    #: ``authentication_method`` is deprecated by KSeF (removal planned 2026-11-16)
    authentication_method_category: str | None = None
    last_token_refresh_date: datetime | None = None


@dataclasses.dataclass(frozen=True)
class AccessToken:
    token: str = dataclasses.field(repr=False)
    valid_until: datetime | None = None


@dataclasses.dataclass(frozen=True)
class AuthTokens:
    """Result of a completed authentication (redeem)."""

    access_token: str = dataclasses.field(repr=False)
    access_valid_until: datetime | None = None
    refresh_token: str = dataclasses.field(default="", repr=False)
    refresh_valid_until: datetime | None = None
    reference_number: str | None = None  # the authentication operation (…-AU-…)


@dataclasses.dataclass(frozen=True)
class GeneratedToken:
    """``POST /tokens`` answer. ``token`` is shown by KSeF only this once."""

    reference_number: str
    token: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Identifier:
    type: str  # Nip / Pesel / Fingerprint / InternalId / NipVatUe / PeppolId
    value: str

    def to_json(self):
        return {"type": self.type, "value": self.value}


@dataclasses.dataclass(frozen=True)
class TokenInfo:
    """One token's metadata (``GET /tokens`` item or ``GET /tokens/{ref}``)."""

    reference_number: str
    status: str  # Pending / Active / Revoking / Revoked / Failed
    description: str = ""
    requested_permissions: tuple = ()
    author_identifier: Identifier | None = None
    context_identifier: Identifier | None = None
    date_created: datetime | None = None
    last_use_date: datetime | None = None
    status_details: tuple = ()


@dataclasses.dataclass(frozen=True)
class TokenPage:
    items: tuple
    continuation_token: str | None = None


@dataclasses.dataclass(frozen=True)
class AuthSessionInfo:
    """One entry of ``GET /auth/sessions``."""

    reference_number: str
    is_current: bool = False
    start_date: datetime | None = None
    authentication_method: str | None = None
    status_code: int | None = None
    is_token_redeemed: bool | None = None
    last_token_refresh_date: datetime | None = None
    refresh_token_valid_until: datetime | None = None
    authentication_method_category: str | None = None
    status_description: str | None = None


# --- KSeF certificates (``/certificates/*``) -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CertificateLimits:
    """``GET /certificates/limits``: what the authenticated subject may still request."""

    can_request: bool
    enrollment_remaining: int
    enrollment_limit: int
    certificate_remaining: int
    certificate_limit: int


@dataclasses.dataclass(frozen=True)
class EnrollmentData:
    """``GET /certificates/enrollments/data``: the DN a CSR must carry (``None`` = absent)."""

    common_name: str
    country_name: str
    given_name: str | None = None
    surname: str | None = None
    serial_number: str | None = None
    unique_identifier: str | None = None
    organization_name: str | None = None
    organization_identifier: str | None = None


@dataclasses.dataclass(frozen=True)
class EnrollmentStatus:
    """``GET /certificates/enrollments/{referenceNumber}``.

    ``code``: 100 accepted (in progress), 200 issued (``serial_number`` set), 400 rejected,
    500 unknown error, 550 cancelled by the system.
    """

    code: int
    description: str
    details: tuple = ()
    serial_number: str | None = None
    request_date: datetime | None = None

    @property
    def issued(self):
        return self.code == 200

    @property
    def pending(self):
        return self.code == 100

    @property
    def failed(self):
        return self.code >= 400


@dataclasses.dataclass(frozen=True)
class RetrievedCertificate:
    """One entry of ``POST /certificates/retrieve``."""

    serial_number: str
    name: str
    certificate_type: str  # Authentication / Offline
    certificate_der: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class CertificateInfo:
    """One entry of ``POST /certificates/query`` (datetimes aware)."""

    serial_number: str
    name: str
    certificate_type: str  # Authentication / Offline
    common_name: str
    status: str  # Active / Blocked / Revoked / Expired
    subject_identifier: Identifier | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    last_use_date: datetime | None = None
    request_date: datetime | None = None
