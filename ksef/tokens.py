"""Parsing and classifying pasted KSeF 2.0 token strings (REFERENCE section 4).

A KSeF 2.0 token is ``<referenceNumber>|<context>|<secret>``::

    20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12345|919f…f7b9

* the reference number is the token's own ``referenceNumber`` (``…-EC-…``);
* the context is ``nip-<NIP>`` or ``internalId-<NIP>-<5 digits>`` (prefix case-insensitive);
* the secret is 64 hex characters (lowercase in KSeF 2.0).

:func:`parse_token` recognises the usual wrong pastes (KSeF 1.0 tokens, JWTs, bare reference
numbers, challenges, two tokens) and says which one it saw through
:class:`~.errors.KsefTokenFormatError` ``kind``. No message ever contains the pasted text.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import date, datetime, time, timezone

from .errors import KsefIdentifierError, KsefTokenFormatError
from .identifiers import ContextIdentifier

__all__ = [
    "ANY_REFERENCE_RE",
    "CHALLENGE_RE",
    "MAX_INPUT_LENGTH",
    "MAX_TOKEN_LENGTH",
    "REFERENCE_RE",
    "ParsedToken",
    "generate_reference",
    "is_token_reference",
    "new_token",
    "normalize_reference",
    "parse_token",
]

#: longest input looked at (before normalisation); longer input is ``too_long``
MAX_INPUT_LENGTH = 1024
#: ``maxLength`` of a token string in the KSeF API
MAX_TOKEN_LENGTH = 160
# a JWT pasted by mistake may be longer than MAX_INPUT_LENGTH; still say it is a JWT
_MAX_JWT_LENGTH = 16 * 1024

#: a token reference number (``EC``), upper case
REFERENCE_RE = re.compile(r"\d{8}-EC-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}")
#: an authentication challenge (``CR``), upper case
CHALLENGE_RE = re.compile(r"\d{8}-CR-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}")
#: any KSeF reference number (EC, AU, CR, EG, SO, ...), upper case
ANY_REFERENCE_RE = re.compile(r"\d{8}-(?P<kind>[A-Z]{2})-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}")

_SECRET_RE = re.compile(r"[0-9A-Fa-f]{64}")
_KSEF1_RE = _SECRET_RE
_JWT_RE = re.compile(r"(?:bearer)?(eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)", re.I)
_EC_SEARCH_RE = re.compile(r"\d{8}-EC-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}", re.I)
# whitespace, zero-width characters, BOM, soft hyphen: removed anywhere in the input
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"
_BLANK_RE = re.compile(rf"[\s{_INVISIBLE}]+")
_CHUNK_SPLIT_RE = re.compile(rf"[\s{_INVISIBLE},;]+")
_QUOTES = {
    '"': '"',
    "'": "'",
    "`": "`",
    "\u201e": "\u201d",
    "\u201c": "\u201d",
    "\u00ab": "\u00bb",
    "\u2018": "\u2019",
    "<": ">",
}


def _fail(kind, message):
    raise KsefTokenFormatError(message, kind=kind)


@dataclasses.dataclass(frozen=True)
class ParsedToken:
    """A syntactically valid KSeF 2.0 token split into its three parts.

    ``secret`` and :attr:`token` never appear in ``repr``/``str``; use :attr:`masked` to
    show a token to a user.
    """

    reference_number: str
    context: ContextIdentifier
    secret: str = dataclasses.field(repr=False)

    def __post_init__(self):
        if not (
            isinstance(self.reference_number, str) and REFERENCE_RE.fullmatch(self.reference_number)
        ):
            _fail("bad_reference", "The token reference number is not a KSeF token reference.")
        if not (
            isinstance(self.context, ContextIdentifier)
            and self.context.type in ("Nip", "InternalId")
        ):
            _fail("bad_context", "A token context must be a Nip or InternalId context.")
        if not (
            isinstance(self.secret, str)
            and _SECRET_RE.fullmatch(self.secret)
            and self.secret == self.secret.lower()
        ):
            _fail("bad_secret", "A token secret must be 64 lowercase hexadecimal characters.")

    @property
    def token(self) -> str:
        """The canonical full token string ``reference|context|secret`` (a secret!)."""
        return f"{self.reference_number}|{self.context.token_prefix}|{self.secret}"

    @property
    def masked(self) -> str:
        """A display form hiding the secret: ``20251010-EC-…-45|nip-5265877635|…f7b9``."""
        ref = self.reference_number
        return f"{ref[:12]}…{ref[-3:]}|{self.context.token_prefix}|…{self.secret[-4:]}"

    def __str__(self):
        return self.masked


def normalize_reference(text) -> str | None:
    """Upper-cased, stripped KSeF token reference number, or ``None`` if ``text`` is not one."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    ref = _BLANK_RE.sub("", text).upper()
    return ref if REFERENCE_RE.fullmatch(ref) else None


def is_token_reference(text) -> bool:
    """Whether ``text`` is a KSeF token reference number (``YYYYMMDD-EC-…``, any case)."""
    return normalize_reference(text) is not None


def generate_reference(kind="EC", when=None) -> str:
    """A new realistic reference number ``YYYYMMDD-<kind>-<10 hex>-<10 hex>-<2 hex>``.

    Like KSeF's, the first block grows with the time of day (100 ns ticks since midnight);
    the rest is random. ``when`` is a ``datetime`` or ``date`` (default: now, UTC).
    """
    if not (isinstance(kind, str) and re.fullmatch(r"[A-Z]{2}", kind)):
        raise ValueError("reference kind must be two upper-case letters")
    if when is None:
        when = datetime.now(timezone.utc)
    elif not isinstance(when, datetime):
        when = datetime.combine(when, time.min) if isinstance(when, date) else None
        if when is None:
            raise ValueError("when must be a datetime or a date")
    midnight = when.replace(hour=0, minute=0, second=0, microsecond=0)
    ticks = int((when - midnight).total_seconds() * 10_000_000) & ~0xFFF
    return (
        f"{when:%Y%m%d}-{kind}-{ticks:010X}-{secrets.token_hex(5).upper()}"
        f"-{secrets.token_hex(1).upper()}"
    )


def new_token(context: ContextIdentifier, when=None) -> ParsedToken:
    """A brand-new random token for ``context`` (used by the simulator)."""
    return ParsedToken(generate_reference("EC", when), context, secrets.token_hex(32))


# --- parsing --------------------------------------------------------------------------------


def _strip_outer(text):
    """Strip whitespace/invisible characters and one pair of surrounding quotes."""
    text = text.strip(
        " \t\r\n\f\v\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
        "\u2009\u200a\u202f\u205f\u3000\u0085\u2028\u2029" + _INVISIBLE
    )
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1]
    return text


def _is_complete_thing(chunk):
    """Whether one whitespace-separated chunk is by itself a whole token-like value."""
    return bool(
        _SECRET_RE.fullmatch(chunk)
        or _JWT_RE.fullmatch(chunk)
        or (
            chunk.count("|") == 2
            and _EC_SEARCH_RE.match(chunk)
            and _SECRET_RE.fullmatch(chunk.rsplit("|", 1)[1])
        )
    )


def _check_multiple(stripped, compact):
    """Raise ``multiple`` when the input holds two (or more) tokens."""
    if len(_EC_SEARCH_RE.findall(compact)) > 1:
        _fail("multiple", "The text contains more than one KSeF token.")
    chunks = [c for c in _CHUNK_SPLIT_RE.split(stripped) if c]
    if sum(1 for c in chunks if _is_complete_thing(c)) > 1:
        _fail("multiple", "The text contains more than one token.")


def _classify_without_bar(compact):
    """Explain what a string without '|' is (never returns)."""
    upper = compact.upper()
    if _JWT_RE.fullmatch(compact):
        _fail("jwt", "This is a JWT (an access or refresh token), not a KSeF token.")
    if _KSEF1_RE.fullmatch(compact):
        _fail(
            "ksef1",
            "This looks like a KSeF 1.0 token (or only the secret part of a 2.0 "
            "token); KSeF 2.0 needs the whole 2.0 token 'reference|context|secret'.",
        )
    if CHALLENGE_RE.fullmatch(upper):
        _fail("challenge", "This is an authentication challenge, not a KSeF token.")
    if ANY_REFERENCE_RE.fullmatch(upper):
        _fail(
            "reference_only",
            "This is only a reference number; the token's context and " "secret are missing.",
        )
    _fail("malformed", "A KSeF token must have three parts separated by '|'.")


def _parse_reference(part):
    ref = part.upper()
    if REFERENCE_RE.fullmatch(ref):
        return ref
    if ANY_REFERENCE_RE.fullmatch(ref):
        _fail(
            "bad_reference",
            "The first part is a KSeF reference number of another kind " "than a token (EC).",
        )
    _fail("bad_reference", "The first part of the token is not a KSeF token reference number.")


def _parse_context(part, verify_checksums):
    try:
        return ContextIdentifier.from_token_context(part, verify_checksums=verify_checksums)
    except KsefIdentifierError as exc:
        if exc.kind.endswith("_checksum"):
            _fail(
                "bad_context_checksum",
                "The check digit of the token's context identifier "
                "(NIP or InternalId) is wrong.",
            )
        _fail(
            "bad_context",
            "The middle part of the token must be 'nip-<NIP>' or " "'internalId-<NIP>-<5 digits>'.",
        )


def _parse_secret(part):
    if not _SECRET_RE.fullmatch(part):
        _fail("bad_secret", "The last part of the token must be 64 hexadecimal characters.")
    return part.lower()


def parse_token(text, *, verify_checksums=True) -> ParsedToken:
    """Parse a pasted KSeF 2.0 token into a :class:`ParsedToken`.

    Surrounding whitespace (incl. NBSP), zero-width characters, BOM and one pair of quotes are
    removed, as are line breaks and spaces inside (a token wrapped in an e-mail). The reference
    number is upper-cased, the secret lower-cased. With ``verify_checksums`` (default) a NIP or
    InternalId whose check digit is wrong is refused as ``bad_context_checksum``.

    Raises :class:`KsefTokenFormatError` whose ``kind`` is one of ``empty``, ``too_long``,
    ``multiple``, ``ksef1``, ``jwt``, ``reference_only``, ``challenge``, ``bad_reference``,
    ``bad_context``, ``bad_context_checksum``, ``bad_secret``, ``malformed``.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            _fail("malformed", "The token is not UTF-8 text.")
    if text is None:
        _fail("empty", "No token was given.")
    if not isinstance(text, str):
        _fail("malformed", "A token must be text.")
    if len(text) > MAX_INPUT_LENGTH:
        _classify_long(text)
    stripped = _strip_outer(text)
    if not stripped:
        _fail("empty", "No token was given.")
    compact = _BLANK_RE.sub("", stripped)
    _check_multiple(stripped, compact)
    if "|" not in compact:
        _classify_without_bar(compact)
    if len(compact) > MAX_TOKEN_LENGTH:
        _fail("too_long", f"A KSeF token has at most {MAX_TOKEN_LENGTH} characters.")
    parts = compact.split("|")
    if len(parts) != 3 or not all(parts):
        _fail(
            "malformed", "A KSeF token must have exactly three non-empty parts separated " "by '|'."
        )
    return ParsedToken(
        _parse_reference(parts[0]),
        _parse_context(parts[1], verify_checksums),
        _parse_secret(parts[2]),
    )


def _classify_long(text):
    """Input over :data:`MAX_INPUT_LENGTH`: a long JWT is still named, anything else too long."""
    if len(text) <= _MAX_JWT_LENGTH:
        compact = _BLANK_RE.sub("", _strip_outer(text))
        if _JWT_RE.fullmatch(compact):
            _fail("jwt", "This is a JWT (an access or refresh token), not a KSeF token.")
    _fail("too_long", "The text is far too long to be a KSeF token.")
