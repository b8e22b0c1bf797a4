"""Parsing and classification of pasted KSeF token strings."""

import re
from datetime import date, datetime, timezone

import pytest

from ksef.errors import KsefTokenFormatError
from ksef.identifiers import ContextIdentifier
from ksef.tokens import (
    CHALLENGE_RE,
    REFERENCE_RE,
    ParsedToken,
    generate_reference,
    is_token_reference,
    new_token,
    normalize_reference,
    parse_token,
)

REF = "20251010-EC-1DCE3E3000-12ECB5B36E-45"
SECRET = "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9"
OFFICIAL = f"{REF}|internalId-5265877635-12345|{SECRET}"  # InternalId check digit is wrong
GOOD_IID = f"{REF}|internalId-5265877635-12346|{SECRET}"
NIP_TOKEN = f"{REF}|nip-5265877635|{SECRET}"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbi10eXBlIjoiQWNjZXNzVG9rZW4ifQ."
    "c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dC10b2tlbg"
)
KSEF1 = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90"
SECRETS = (SECRET, SECRET.upper(), KSEF1, KSEF1.lower(), JWT)


def _error(text, **kw):
    with pytest.raises(KsefTokenFormatError) as info:
        parse_token(text, **kw)
    exc = info.value
    rendered = " ".join([str(exc), repr(exc), exc.message, *map(str, exc.details)])
    for secret in SECRETS:
        assert secret not in rendered and secret.lower() not in rendered.lower()
    if isinstance(text, str) and len(text.strip()) > 8:
        assert text.strip() not in rendered
    assert exc.code == exc.kind
    return exc.kind


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        NIP_TOKEN,
        f"  {NIP_TOKEN}\n",
        f"\u00a0\ufeff{NIP_TOKEN}\u200b\u00a0",
        f"{REF}|NIP-5265877635|{SECRET}",
        f"{REF}|Nip-5265877635|{SECRET.upper()}",
        f"{REF.lower()}|nip-5265877635|{SECRET}",
        f"{NIP_TOKEN[:50]}\r\n{NIP_TOKEN[50:100]}\n{NIP_TOKEN[100:]}",  # wrapped in an e-mail
        f"{REF} | nip-5265877635 | {SECRET}",
        f'"{NIP_TOKEN}"',
        f"\u201e{NIP_TOKEN}\u201d",
        f"{REF}|nip-526\u200b5877635|{SECRET}",
        NIP_TOKEN.encode(),
    ],
)
def test_nip_tokens_are_accepted_and_canonicalised(text):
    parsed = parse_token(text)
    assert parsed.reference_number == REF
    assert parsed.context == ContextIdentifier("Nip", "5265877635")
    assert parsed.secret == SECRET
    assert parsed.token == NIP_TOKEN


def test_internal_id_token():
    parsed = parse_token(GOOD_IID.replace("internalId", "INTERNALID"))
    assert parsed.context == ContextIdentifier("InternalId", "5265877635-12346")
    assert parsed.token == GOOD_IID


def test_official_example_fails_its_internal_id_check_digit():
    assert _error(OFFICIAL) == "bad_context_checksum"
    parsed = parse_token(OFFICIAL, verify_checksums=False)
    assert parsed.token == OFFICIAL
    assert parsed.reference_number == REF
    assert parsed.context.to_json() == {"type": "InternalId", "value": "5265877635-12345"}


def test_secret_never_in_repr_or_str():
    parsed = parse_token(NIP_TOKEN)
    assert SECRET not in repr(parsed)
    assert SECRET not in str(parsed)
    assert parsed.masked == "20251010-EC-…-45|nip-5265877635|…f7b9"
    assert str(parsed) == parsed.masked
    assert SECRET[:-4] not in parsed.masked


def test_masked_official_example():
    parsed = parse_token(OFFICIAL, verify_checksums=False)
    assert parsed.masked == "20251010-EC-…-45|internalId-5265877635-12345|…f7b9"


# --- refused: look-alikes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind",
    [
        ("", "empty"),
        (None, "empty"),
        ("   \n\t ", "empty"),
        ("\u00a0\ufeff\u200b", "empty"),
        ("x" * 5000, "too_long"),
        (" " * 2000, "too_long"),
        (f"{REF}|nip-5265877635|{SECRET}{'a' * 60}", "too_long"),
        (KSEF1, "ksef1"),
        (KSEF1.lower(), "ksef1"),
        (SECRET, "ksef1"),  # only the secret part: not usable either
        (f" {KSEF1}\n", "ksef1"),
        (JWT, "jwt"),
        (f"Bearer {JWT}", "jwt"),
        (JWT + "A" * 3000, "jwt"),  # a long refresh token is still recognised
        (REF, "reference_only"),
        (REF.lower(), "reference_only"),
        ("20251010-AU-19F5E39000-39B5B182BA-B8", "reference_only"),
        ("20250514-CR-226FB7B000-3ACF9BE4C0-10", "challenge"),
        (f"{NIP_TOKEN}\n{NIP_TOKEN}", "multiple"),
        (f"{NIP_TOKEN}{NIP_TOKEN}", "multiple"),
        (f"{NIP_TOKEN}, {GOOD_IID}", "multiple"),
        (f"{KSEF1} {KSEF1}", "multiple"),
        (f"{NIP_TOKEN} {KSEF1}", "multiple"),
    ],
)
def test_refused_look_alikes(text, kind):
    assert _error(text) == kind


@pytest.mark.parametrize(
    "text, kind",
    [
        (f"{REF};nip-5265877635;{SECRET}", "malformed"),
        (f"{REF}/nip-5265877635/{SECRET}", "malformed"),
        (f"{REF}\u00a6nip-5265877635\u00a6{SECRET}", "malformed"),
        (f"{REF}|nip-5265877635", "malformed"),
        (f"{REF}||{SECRET}", "malformed"),
        (f"{REF}|nip-5265877635|{SECRET}|", "malformed"),
        ("hello world", "malformed"),
        (b"\xff\xfe\x00", "malformed"),
        (12345, "malformed"),
        (f"20251010-EX-1DCE3E3000-12ECB5B36E-45|nip-5265877635|{SECRET}", "bad_reference"),
        (f"20251010-AU-1DCE3E3000-12ECB5B36E-45|nip-5265877635|{SECRET}", "bad_reference"),
        (f"2025101-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|{SECRET}", "bad_reference"),
        (f"20251010-EC-1DCE3E3000-12ECB5B36E|nip-5265877635|{SECRET}", "bad_reference"),
        (f"{REF}|pesel-12345678901|{SECRET}", "bad_context"),
        (f"{REF}|5265877635|{SECRET}", "bad_context"),
        (f"{REF}|nip-526587763|{SECRET}", "bad_context"),
        (f"{REF}|nip-0265877635|{SECRET}", "bad_context"),
        (f"{REF}|internalId-5265877635|{SECRET}", "bad_context"),
        (f"{REF}|nip-5265877636|{SECRET}", "bad_context_checksum"),
        (f"{REF}|internalId-5265877636-12346|{SECRET}", "bad_context_checksum"),
        (f"{REF}|nip-5265877635|{SECRET[:-1]}", "bad_secret"),  # 63 characters
        (f"{REF}|nip-5265877635|{SECRET[:-1]}g", "bad_secret"),
        (f"{REF}|nip-5265877635|{JWT[:64]}", "bad_secret"),
    ],
)
def test_refused_malformed_parts(text, kind):
    assert _error(text) == kind


def test_every_kind_is_a_value_error():
    with pytest.raises(ValueError):
        parse_token("nonsense")


# --- ParsedToken, references ----------------------------------------------------------------


def test_parsed_token_validates_its_parts():
    ctx = ContextIdentifier.nip("5265877635")
    with pytest.raises(KsefTokenFormatError) as info:
        ParsedToken(REF, ctx, SECRET.upper())
    assert info.value.kind == "bad_secret"
    with pytest.raises(KsefTokenFormatError) as info:
        ParsedToken("20250514-CR-226FB7B000-3ACF9BE4C0-10", ctx, SECRET)
    assert info.value.kind == "bad_reference"
    with pytest.raises(KsefTokenFormatError) as info:
        ParsedToken(REF, ContextIdentifier("PeppolId", "PPL123456"), SECRET)
    assert info.value.kind == "bad_context"


def test_new_token_round_trips():
    token = new_token(ContextIdentifier.internal_id("6824515772-12343"))
    assert parse_token(token.token) == token
    assert token.token.startswith(token.reference_number + "|internalId-6824515772-12343|")


def test_generate_reference():
    when = datetime(2025, 10, 10, 12, 30, tzinfo=timezone.utc)
    refs = {generate_reference("EC", when) for _ in range(50)}
    assert len(refs) == 50
    for ref in refs:
        assert REFERENCE_RE.fullmatch(ref) and ref.startswith("20251010-EC-")
        assert ref[12:22] == f"{(12 * 3600 + 30 * 60) * 10_000_000 & ~0xFFF:010X}"
    assert CHALLENGE_RE.fullmatch(generate_reference("CR"))
    assert re.fullmatch(
        r"\d{8}-AU-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}",
        generate_reference("AU", date(2026, 1, 2)),
    )
    assert generate_reference("AU", date(2026, 1, 2)).startswith("20260102-AU-0000000000-")
    with pytest.raises(ValueError):
        generate_reference("ec")


def test_is_token_reference():
    assert is_token_reference(REF)
    assert is_token_reference(f" {REF.lower()}\n")
    assert normalize_reference(REF.lower()) == REF
    assert not is_token_reference("20250514-CR-226FB7B000-3ACF9BE4C0-10")
    assert not is_token_reference(NIP_TOKEN)
    assert not is_token_reference(None)
