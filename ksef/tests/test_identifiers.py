"""NIP / InternalId validation and ContextIdentifier."""

import pytest

from ksef.errors import KsefIdentifierError
from ksef.identifiers import (
    ContextIdentifier,
    internal_id_check_digit,
    is_valid_internal_id,
    is_valid_nip,
    make_internal_id,
    nip_check_digit,
    normalize_nip,
    validate_internal_id,
)


def _kind(func, *args):
    with pytest.raises(KsefIdentifierError) as info:
        func(*args)
    return info.value.kind


@pytest.mark.parametrize(
    "value",
    [
        "5265877635",
        "526-587-76-35",
        "PL5265877635",
        "pl 526 587 76 35",
        " 526\u00a0587\u00a07635 ",
        "526.587.76.35",
        5265877635,
    ],
)
def test_normalize_nip_accepts_usual_spellings(value):
    assert normalize_nip(value) == "5265877635"


@pytest.mark.parametrize(
    "value, kind",
    [
        ("5265877636", "bad_nip_checksum"),
        ("6824515773", "bad_nip_checksum"),
        ("526587763", "bad_nip"),
        ("52658776355", "bad_nip"),
        ("526587763X", "bad_nip"),
        ("", "bad_nip"),
        (None, "bad_nip"),
        ("0265877635", "bad_nip"),  # XSD: first digit 1-9
        ("1005877635", "bad_nip"),  # XSD: digits 2-3 not both 0
        ("DE5265877635", "bad_nip"),
        ("５２６５８７７６３５", "bad_nip"),  # full-width digits are not ASCII digits
    ],
)
def test_normalize_nip_rejects(value, kind):
    assert _kind(normalize_nip, value) == kind


def test_nip_check_digit_ten_is_never_valid():
    # find a 9-digit prefix whose weighted sum mod 11 is 10: no last digit can make it valid
    prefix = next(
        f"{n:09d}" for n in range(123456789, 123999999) if nip_check_digit(f"{n:09d}") is None
    )
    assert not any(is_valid_nip(prefix + str(d)) for d in range(10))


def test_is_valid_nip():
    assert is_valid_nip("6824515772")
    assert not is_valid_nip("6824515770")
    assert not is_valid_nip(object())


def test_internal_id_check_digit_official_example():
    # REFERENCE 5.2: 6824515772-1234 -> sum 113 -> 3 -> 6824515772-12343
    assert internal_id_check_digit("68245157721234") == 3
    assert internal_id_check_digit("6824515772-1234") == 3
    assert make_internal_id("6824515772", "1234") == "6824515772-12343"
    assert validate_internal_id("6824515772-12343") == "6824515772-12343"


def test_official_token_example_internal_id_has_a_wrong_check_digit():
    # the documentation's token example uses 5265877635-12345, but the rule gives 6
    assert internal_id_check_digit("52658776351234") == 6
    assert _kind(validate_internal_id, "5265877635-12345") == "bad_internal_id_checksum"
    assert validate_internal_id("5265877635-12346") == "5265877635-12346"


@pytest.mark.parametrize(
    "value, kind",
    [
        ("6824515772-12344", "bad_internal_id_checksum"),
        ("6824515772-1234", "bad_internal_id"),
        ("6824515772-123433", "bad_internal_id"),
        ("682451577212343", "bad_internal_id"),
        ("6824515772-1234a", "bad_internal_id"),
        ("682451577-212343", "bad_internal_id"),
        ("6824515773-12343", "bad_nip_checksum"),
        ("0824515772-12343", "bad_nip"),
        (12343, "bad_internal_id"),
    ],
)
def test_validate_internal_id_rejects(value, kind):
    assert _kind(validate_internal_id, value) == kind


def test_validate_internal_id_normalises_spaces():
    assert validate_internal_id(" 6824515772 - 12343\n") == "6824515772-12343"
    assert is_valid_internal_id("6824515772-12343")
    assert not is_valid_internal_id("6824515772-12340")


def test_make_internal_id_checks_its_input():
    assert make_internal_id("682-451-57-72", 7) == "6824515772-00072"
    assert internal_id_check_digit("68245157720007") == 2
    assert _kind(make_internal_id, "6824515772", "12a4") == "bad_internal_id"
    assert _kind(make_internal_id, "6824515773", "1234") == "bad_nip_checksum"


def test_context_identifier_helpers():
    nip = ContextIdentifier.nip("PL 526-587-76-35")
    assert nip == ContextIdentifier("Nip", "5265877635")
    assert nip.to_json() == {"type": "Nip", "value": "5265877635"}
    assert nip.token_prefix == "nip-5265877635"
    assert nip.base_nip == "5265877635"
    iid = ContextIdentifier.internal_id("6824515772-12343")
    assert iid.token_prefix == "internalId-6824515772-12343"
    assert iid.base_nip == "6824515772"
    assert iid.to_json() == {"type": "InternalId", "value": "6824515772-12343"}
    assert ContextIdentifier("PeppolId", "PPL123456").base_nip is None
    assert ContextIdentifier("NipVatUe", "5265877635-ATU12345678").base_nip == "5265877635"


def test_context_identifier_constructor_checks_type_and_shape():
    assert _kind(ContextIdentifier, "Pesel", "12345678901") == "bad_context"
    assert _kind(ContextIdentifier, "Nip", "") == "bad_context"
    assert _kind(ContextIdentifier, "Nip", "526587763") == "bad_nip"
    assert _kind(ContextIdentifier, "InternalId", "5265877635") == "bad_internal_id"
    with pytest.raises(KsefIdentifierError):
        ContextIdentifier("PeppolId", "PPL123456").token_prefix  # noqa: B018


@pytest.mark.parametrize(
    "text, expected",
    [
        ("nip-5265877635", ContextIdentifier("Nip", "5265877635")),
        ("NIP-5265877635", ContextIdentifier("Nip", "5265877635")),
        ("internalId-6824515772-12343", ContextIdentifier("InternalId", "6824515772-12343")),
        ("INTERNALID-6824515772-12343", ContextIdentifier("InternalId", "6824515772-12343")),
        ("internalid-6824515772-12343", ContextIdentifier("InternalId", "6824515772-12343")),
    ],
)
def test_from_token_context(text, expected):
    assert ContextIdentifier.from_token_context(text) == expected


@pytest.mark.parametrize(
    "text, kind",
    [
        ("pesel-12345678901", "bad_context"),
        ("5265877635", "bad_context"),
        ("nip-5265877636", "bad_nip_checksum"),
        ("internalId-5265877635-12345", "bad_internal_id_checksum"),
        ("internalId-5265877635", "bad_internal_id"),
        ("nip-", "bad_nip"),
    ],
)
def test_from_token_context_rejects(text, kind):
    assert _kind(ContextIdentifier.from_token_context, text) == kind


def test_from_token_context_without_checksums_keeps_shape_checks():
    ctx = ContextIdentifier.from_token_context(
        "internalId-5265877635-12345", verify_checksums=False
    )
    assert ctx.value == "5265877635-12345"
    with pytest.raises(KsefIdentifierError):
        ContextIdentifier.from_token_context("nip-12345", verify_checksums=False)
