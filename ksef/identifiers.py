"""Polish tax identifiers used as KSeF contexts: NIP and the branch ``InternalId`` (IDWew).

* NIP: 10 digits, check digit = (6,5,7,2,3,4,5,6,7 weighted sum) mod 11 (10 is never valid),
  and the AuthTokenRequest XSD pattern ``[1-9]((\\d[1-9])|([1-9]\\d))\\d{7}``.
* InternalId: ``<NIP>-<5 digits>``; the 5th digit is a check digit: weights 1,3,1,3,... over
  the 14 digits NIP + first four, sum mod 10 (REFERENCE 5.2: ``6824515772-1234`` -> ``3``).

:class:`ContextIdentifier` is the ``contextIdentifier`` of ``/auth/ksef-token`` and of the
XAdES ``AuthTokenRequest``, and also knows the spelling it has inside a token string
(``nip-…`` / ``internalId-…``).
"""

from __future__ import annotations

import dataclasses
import re

from .errors import KsefIdentifierError

__all__ = [
    "CONTEXT_TYPES",
    "ContextIdentifier",
    "NIP_RE",
    "INTERNAL_ID_RE",
    "internal_id_check_digit",
    "is_valid_internal_id",
    "is_valid_nip",
    "make_internal_id",
    "nip_check_digit",
    "normalize_nip",
    "validate_internal_id",
]

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
#: the XSD ``TNIP`` pattern (anchored)
NIP_RE = re.compile(r"[1-9]((\d[1-9])|([1-9]\d))\d{7}\Z")
#: the XSD ``TIID`` pattern (anchored)
INTERNAL_ID_RE = re.compile(r"[1-9]((\d[1-9])|([1-9]\d))\d{7}-\d{5}\Z")

#: context identifier types of KSeF (``AuthenticationContextIdentifierType``)
CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")

# separators people type inside a NIP: spaces (incl. NBSP), hyphens, dashes, dots
_NIP_NOISE_RE = re.compile(r"[\s\u00a0\u2000-\u200b\u202f\-\u2010-\u2015.]+")
_CONTEXT_PREFIXES = {"nip": "Nip", "internalid": "InternalId"}
_TOKEN_PREFIXES = {"Nip": "nip", "InternalId": "internalId"}


def _fail(message, kind):
    raise KsefIdentifierError(message, kind=kind)


def nip_check_digit(first9: str) -> int | None:
    """Return the NIP check digit of 9 digits, or ``None`` when the weighted sum gives 10."""
    if not (isinstance(first9, str) and len(first9) == 9 and first9.isascii() and first9.isdigit()):
        _fail("A NIP check digit needs exactly 9 digits.", "bad_nip")
    digit = sum(int(d) * w for d, w in zip(first9, NIP_WEIGHTS, strict=False)) % 11
    return None if digit == 10 else digit


def normalize_nip(value) -> str:
    """Return the 10-digit NIP of ``value`` ('526-587-76-35', 'PL5265877635', '526 587 76 35').

    Raises :class:`KsefIdentifierError` with kind ``bad_nip`` (not 10 digits / not the XSD
    pattern) or ``bad_nip_checksum`` (check digit wrong).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        _fail("A NIP must be a string of 10 digits.", "bad_nip")
    text = _NIP_NOISE_RE.sub("", value.strip())
    if text[:2].upper() == "PL":
        text = text[2:]
    if not (len(text) == 10 and text.isascii() and text.isdigit()):
        _fail("A NIP must have exactly 10 digits.", "bad_nip")
    if not NIP_RE.match(text):
        _fail("The NIP does not match the KSeF NIP pattern.", "bad_nip")
    if nip_check_digit(text[:9]) != int(text[9]):
        _fail("The NIP check digit is wrong.", "bad_nip_checksum")
    return text


def is_valid_nip(value) -> bool:
    """Whether ``value`` normalises to a valid NIP (see :func:`normalize_nip`)."""
    try:
        normalize_nip(value)
    except KsefIdentifierError:
        return False
    return True


def internal_id_check_digit(first14: str) -> int:
    """Check digit of an InternalId from its first 14 digits (NIP + 4 digits, '-' ignored).

    Weights 1,3,1,3,... from the left, sum mod 10 (REFERENCE 5.2).
    """
    digits = first14.replace("-", "") if isinstance(first14, str) else ""
    if not (len(digits) == 14 and digits.isascii() and digits.isdigit()):
        _fail("An InternalId check digit needs NIP + 4 digits.", "bad_internal_id")
    return sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10


def make_internal_id(nip, four_digits) -> str:
    """Build ``NNNNNNNNNN-DDDDD`` from a NIP and the unit's 4 digits, adding the check digit."""
    base = normalize_nip(nip)
    if isinstance(four_digits, int) and not isinstance(four_digits, bool) and four_digits >= 0:
        four_digits = f"{four_digits:04d}"
    if not (
        isinstance(four_digits, str)
        and len(four_digits) == 4
        and four_digits.isascii()
        and four_digits.isdigit()
    ):
        _fail("An InternalId needs exactly 4 digits after the NIP.", "bad_internal_id")
    return f"{base}-{four_digits}{internal_id_check_digit(base + four_digits)}"


def validate_internal_id(value) -> str:
    """Return the normalised InternalId ``NNNNNNNNNN-DDDDD`` or raise.

    Kinds: ``bad_internal_id`` (shape), ``bad_nip`` / ``bad_nip_checksum`` (the NIP part),
    ``bad_internal_id_checksum`` (the 5th digit).
    """
    if not isinstance(value, str):
        _fail("An InternalId must be a string 'NIP-5 digits'.", "bad_internal_id")
    text = _NIP_NOISE_RE.sub("", value.strip().replace("-", "|"))
    parts = text.split("|")
    if len(parts) == 2 and len(parts[0]) == 12 and parts[0][:2].upper() == "PL":
        parts[0] = parts[0][2:]
    if not (len(parts) == 2 and len(parts[1]) == 5 and parts[1].isascii() and parts[1].isdigit()):
        _fail("An InternalId must look like 'NIP-5 digits'.", "bad_internal_id")
    if not (len(parts[0]) == 10 and parts[0].isascii() and parts[0].isdigit()):
        _fail("An InternalId must start with a 10-digit NIP.", "bad_internal_id")
    nip = normalize_nip(parts[0])
    suffix = parts[1]
    if internal_id_check_digit(nip + suffix[:4]) != int(suffix[4]):
        _fail("The InternalId check digit is wrong.", "bad_internal_id_checksum")
    return f"{nip}-{suffix}"


def is_valid_internal_id(value) -> bool:
    """Whether ``value`` is a valid InternalId (see :func:`validate_internal_id`)."""
    try:
        validate_internal_id(value)
    except KsefIdentifierError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class ContextIdentifier:
    """Whom a KSeF session acts for: ``type`` in :data:`CONTEXT_TYPES` and its ``value``.

    The plain constructor checks the type and, for Nip/InternalId, the XSD pattern only; use
    :meth:`nip` / :meth:`internal_id` to also normalise and check the check digits.
    """

    type: str
    value: str

    def __post_init__(self):
        if self.type not in CONTEXT_TYPES:
            _fail("Unknown context identifier type.", "bad_context")
        if not isinstance(self.value, str) or not self.value:
            _fail("A context identifier value must be a non-empty string.", "bad_context")
        if self.type == "Nip" and not NIP_RE.match(self.value):
            _fail("The NIP does not match the KSeF NIP pattern.", "bad_nip")
        if self.type == "InternalId" and not INTERNAL_ID_RE.match(self.value):
            _fail("The InternalId does not match the KSeF pattern.", "bad_internal_id")

    @classmethod
    def nip(cls, value) -> ContextIdentifier:
        """A ``Nip`` context from any accepted NIP spelling (validated, check digit included)."""
        return cls("Nip", normalize_nip(value))

    @classmethod
    def internal_id(cls, value) -> ContextIdentifier:
        """An ``InternalId`` context (validated, both check digits included)."""
        return cls("InternalId", validate_internal_id(value))

    @classmethod
    def from_token_context(cls, text: str, *, verify_checksums=True) -> ContextIdentifier:
        """Parse the middle part of a KSeF token: ``nip-<NIP>`` or ``internalId-<NIP>-<5>``.

        The prefix is case-insensitive. Without ``verify_checksums`` only the shape is checked
        (the official documentation example has an InternalId whose check digit is wrong).
        Raises :class:`KsefIdentifierError` (``bad_context`` for an unknown prefix).
        """
        if not isinstance(text, str) or "-" not in text:
            _fail("A token context must look like 'nip-…' or 'internalId-…'.", "bad_context")
        prefix, value = text.split("-", 1)
        ctx_type = _CONTEXT_PREFIXES.get(prefix.lower())
        if ctx_type is None:
            _fail("A token context must start with 'nip-' or 'internalId-'.", "bad_context")
        if verify_checksums:
            return cls.nip(value) if ctx_type == "Nip" else cls.internal_id(value)
        return cls(ctx_type, value)

    @property
    def token_prefix(self) -> str:
        """The spelling inside a token string: ``nip-5265877635`` / ``internalId-…-12345``."""
        prefix = _TOKEN_PREFIXES.get(self.type)
        if prefix is None:
            raise KsefIdentifierError(
                "Only Nip and InternalId contexts appear in tokens.", kind="bad_context"
            )
        return f"{prefix}-{self.value}"

    @property
    def base_nip(self) -> str | None:
        """The NIP of the context (the NIP part of an InternalId/NipVatUe), else ``None``."""
        if self.type == "Nip":
            return self.value
        if self.type in ("InternalId", "NipVatUe"):
            return self.value.split("-", 1)[0]
        return None

    def to_json(self) -> dict:
        """``{"type": ..., "value": ...}`` as in the KSeF JSON API."""
        return {"type": self.type, "value": self.value}

    def __str__(self):
        return f"{self.type} {self.value}"
