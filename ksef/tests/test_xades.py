"""AuthTokenRequest building (against the official XSD), safe parsing, XAdES signing and
verification (also with the independent ``xmlsec1`` tool)."""

import base64
import hashlib
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from lxml import etree

from ksef import crypto, models, testing_certs
from ksef.errors import KsefCryptoError, KsefXmlError
from ksef.identifiers import ContextIdentifier
from ksef.xades import (
    AUTH_NS_20,
    AUTH_NS_21,
    DS_NS,
    MAX_XML_SIZE,
    XADES_NS,
    AuthRequestInfo,
    build_auth_token_request,
    check_auth_token_request,
    parse_xml_safely,
    read_auth_request,
    sign_auth_token_request,
    verify_signed_auth_request,
)

CHALLENGE = "20250514-CR-226FB7B000-3ACF9BE4C0-10"
NIP = ContextIdentifier.nip("5265877635")
IID = ContextIdentifier.internal_id("6824515772-12343")
POLICY = models.AuthorizationPolicy(
    ip4_addresses=("203.0.113.7", "10.0.0.1"),
    ip4_ranges=("192.168.0.1-192.168.0.254",),
    ip4_masks=("10.0.0.0/8", "0.0.0.0/0"),
)
DS = f"{{{DS_NS}}}"
NS = {"ds": DS_NS, "xades": XADES_NS}


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schemas(auth_xsd_path):
    """The official XSD compiled for 2.1 and, namespace replaced, for 2.0."""
    text = auth_xsd_path.read_bytes()
    compiled = {AUTH_NS_21: etree.XMLSchema(etree.fromstring(text))}
    compiled[AUTH_NS_20] = etree.XMLSchema(
        etree.fromstring(text.replace(AUTH_NS_21.encode(), AUTH_NS_20.encode()))
    )
    return compiled


@pytest.fixture(scope="module")
def signers():
    """(key, certificate) for RSA/EC person/seal test certificates."""
    return {
        (key_type, kind): testing_certs.generate_test_certificate(
            "5265877635", kind=kind, key_type=key_type
        )
        for key_type in ("rsa", "ec")
        for kind in ("person", "seal")
    }


@pytest.fixture(scope="module")
def signed_rsa(signers):
    key, cert = signers["rsa", "person"]
    return sign_auth_token_request(build_auth_token_request(CHALLENGE, NIP), key, cert)


def _without_signature(xml):
    root = etree.fromstring(xml)
    for signature in root.findall(f"{DS}Signature"):
        root.remove(signature)
    return root


def _assert_valid(schemas, root):
    ns = etree.QName(root).namespace
    schema = schemas[ns]
    assert schema.validate(root), schema.error_log


def _kind(xml, func=verify_signed_auth_request):
    with pytest.raises(KsefXmlError) as info:
        func(xml)
    assert info.value.code == info.value.kind
    return info.value.kind


# --- building against the official XSD --------------------------------------------------------


@pytest.mark.parametrize("namespace", [AUTH_NS_20, AUTH_NS_21])
@pytest.mark.parametrize("context", [NIP, IID], ids=["nip", "internal_id"])
@pytest.mark.parametrize("subject_type", ["certificateSubject", "certificateFingerprint"])
@pytest.mark.parametrize("policy", [None, POLICY], ids=["no_policy", "policy"])
def test_built_requests_validate_against_official_xsd(
    schemas, namespace, context, subject_type, policy
):
    xml = build_auth_token_request(CHALLENGE, context, subject_type, policy, namespace)
    assert xml.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = etree.fromstring(xml)
    _assert_valid(schemas, root)
    info = read_auth_request(xml)
    assert info == AuthRequestInfo(namespace, CHALLENGE, context, subject_type, policy, False)


def test_signed_request_without_signature_validates_against_xsd(schemas, signers):
    key, cert = signers["ec", "seal"]
    xml = build_auth_token_request(CHALLENGE, IID, "certificateFingerprint", POLICY, AUTH_NS_21)
    signed = sign_auth_token_request(xml, key, cert)
    _assert_valid(schemas, _without_signature(signed))
    assert read_auth_request(signed).signed is True


def test_empty_policy_is_left_out():
    empty = models.AuthorizationPolicy()
    xml = build_auth_token_request(CHALLENGE, NIP, authorization_policy=empty)
    assert b"AuthorizationPolicy" not in xml


def test_policy_element_order_follows_the_xsd():
    root = etree.fromstring(build_auth_token_request(CHALLENGE, NIP, authorization_policy=POLICY))
    names = [etree.QName(e).localname for e in root.iter() if isinstance(e.tag, str)]
    assert names == [
        "AuthTokenRequest",
        "Challenge",
        "ContextIdentifier",
        "Nip",
        "SubjectIdentifierType",
        "AuthorizationPolicy",
        "AllowedIps",
        "Ip4Address",
        "Ip4Address",
        "Ip4Range",
        "Ip4Mask",
        "Ip4Mask",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("20250514-XX-226FB7B000-3ACF9BE4C0-10", NIP),
        (CHALLENGE.lower(), NIP),
        (CHALLENGE, NIP, "certificate"),
        (
            CHALLENGE,
            NIP,
            "certificateSubject",
            models.AuthorizationPolicy(ip4_addresses=("256.1.1.1",)),
        ),
        (
            CHALLENGE,
            NIP,
            "certificateSubject",
            models.AuthorizationPolicy(ip4_masks=tuple(f"10.0.0.{i}/32" for i in range(11))),
        ),
    ],
)
def test_build_refuses_invalid_input(args):
    with pytest.raises(KsefXmlError) as info:
        build_auth_token_request(*args)
    assert info.value.kind == "schema"


def test_build_accepts_model_identifier_and_other_contexts(schemas):
    xml = build_auth_token_request(CHALLENGE, models.Identifier("Nip", "5265877635"))
    assert read_auth_request(xml).context == NIP
    xml = build_auth_token_request(CHALLENGE, ContextIdentifier("PeppolId", "PPL123456"))
    assert read_auth_request(xml).context.type == "PeppolId"
    with pytest.raises(ValueError):
        build_auth_token_request(CHALLENGE, NIP, namespace="urn:other")


# --- signing and verification ---------------------------------------------------------------------


def _xmlsec1_verify(tmp_path, xml, cert):
    if not shutil.which("xmlsec1"):
        pytest.skip("xmlsec1 is not installed")
    (tmp_path / "cert.pem").write_bytes(crypto.certificate_to_pem(cert))
    (tmp_path / "signed.xml").write_bytes(xml)
    return subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--pubkey-cert-pem",
            str(tmp_path / "cert.pem"),
            "--id-attr:Id",
            "SignedProperties",
            str(tmp_path / "signed.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
@pytest.mark.parametrize("kind", ["person", "seal"])
def test_sign_and_verify(tmp_path, signers, key_type, kind):
    key, cert = signers[key_type, kind]
    xml = build_auth_token_request(CHALLENGE, NIP, authorization_policy=POLICY)
    signed = sign_auth_token_request(xml, key, cert)
    verified = verify_signed_auth_request(signed)
    assert verified.challenge == CHALLENGE and verified.context == NIP
    assert verified.authorization_policy == POLICY
    assert verified.subject == models.Identifier("Nip", "5265877635")
    assert verified.fingerprint == crypto.certificate_fingerprint(cert)
    assert verified.certificate == cert and verified.signed
    assert verified.info.challenge == CHALLENGE
    result = _xmlsec1_verify(tmp_path, signed, cert)
    assert result.returncode == 0 and "OK" in result.stdout + result.stderr, result.stderr
    # an unrelated certificate must make xmlsec1 fail: the check above can fail
    other = signers[("ec" if key_type == "rsa" else "rsa"), kind][1]
    assert _xmlsec1_verify(tmp_path, signed, other).returncode != 0


def test_signature_layout(signers):
    key, cert = signers["rsa", "person"]
    when = datetime(2026, 1, 15, 10, 0, 5, tzinfo=timezone.utc)
    signed = sign_auth_token_request(
        build_auth_token_request(CHALLENGE, NIP), key, cert, signing_time=when
    )
    root = etree.fromstring(signed)
    assert root[-1].tag == f"{DS}Signature"
    info = root[-1].find("ds:SignedInfo", NS)
    assert info.find("ds:CanonicalizationMethod", NS).get("Algorithm") == (
        "http://www.w3.org/2006/12/xml-c14n11"
    )
    assert info.find("ds:SignatureMethod", NS).get("Algorithm") == (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    assert {d.get("Algorithm") for d in info.iterfind(".//ds:DigestMethod", NS)} == {
        "http://www.w3.org/2001/04/xmlenc#sha256"
    }
    refs = info.findall("ds:Reference", NS)
    assert refs[0].get("URI") == ""
    assert [t.get("Algorithm") for t in refs[0].iterfind(".//ds:Transform", NS)][0] == (
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    )
    assert any(r.get("Type") == "http://uri.etsi.org/01903#SignedProperties" for r in refs)
    embedded = root.findtext(".//ds:X509Certificate", namespaces=NS)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert base64.b64decode("".join(embedded.split())) == der
    props = root.find(".//xades:SignedSignatureProperties", NS)
    assert props.findtext("xades:SigningTime", namespaces=NS) == "2026-01-15T10:00:05Z"
    digest = props.findtext(".//xades:CertDigest/ds:DigestValue", namespaces=NS)
    assert base64.b64decode(digest) == hashlib.sha256(der).digest()
    assert props.findtext(".//ds:X509SerialNumber", namespaces=NS) == str(cert.serial_number)


def test_ecdsa_signature_value_is_r_concat_s(signers):
    key, cert = signers["ec", "person"]
    signed = sign_auth_token_request(build_auth_token_request(CHALLENGE, NIP), key, cert)
    root = etree.fromstring(signed)
    signature = root.find("ds:Signature", NS)
    assert signature.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == (
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    )
    raw = base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=NS))
    assert len(raw) == 64  # 32-byte R || 32-byte S, not DER
    signed_info = etree.tostring(signature.find("ds:SignedInfo", NS), method="c14n")
    der_sig = utils.encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    cert.public_key().verify(der_sig, signed_info, ec.ECDSA(hashes.SHA256()))


def test_sign_accepts_pem_and_checks_keys(signers):
    key, cert = signers["rsa", "seal"]
    xml = build_auth_token_request(CHALLENGE, NIP)
    signed = sign_auth_token_request(
        xml, crypto.private_key_to_pem(key), crypto.certificate_to_pem(cert)
    )
    assert verify_signed_auth_request(signed).subject == models.Identifier("Nip", "5265877635")
    other_key, _ = signers["rsa", "person"]
    with pytest.raises(KsefCryptoError) as info:
        sign_auth_token_request(xml, other_key, cert)
    assert info.value.code == "key_mismatch"
    with pytest.raises(KsefXmlError) as xml_info:
        sign_auth_token_request(signed, key, cert)
    assert xml_info.value.kind == "multiple_signatures"


def test_sign_refuses_weak_keys():
    xml = build_auth_token_request(CHALLENGE, NIP)
    weak_rsa = testing_certs.generate_rsa_key(1024)
    weak_ec = ec.generate_private_key(ec.SECP192R1())
    for key in (weak_rsa, weak_ec):
        _, cert = testing_certs.generate_encryption_certificate(weak_rsa)
        with pytest.raises(KsefCryptoError) as info:
            sign_auth_token_request(xml, key, cert)
        assert info.value.code == "weak_key"


def test_expired_certificate_is_bad_certificate():
    now = datetime.now(timezone.utc)
    key, cert = testing_certs.generate_test_certificate(
        "5265877635", not_before=now - timedelta(days=60), valid_days=30
    )
    signed = sign_auth_token_request(build_auth_token_request(CHALLENGE, NIP), key, cert)
    assert _kind(signed) == "bad_certificate"
    # the same signature is fine at a time the certificate was valid
    assert verify_signed_auth_request(signed, now=now - timedelta(days=45)).context == NIP


def test_not_yet_valid_certificate_is_bad_certificate(signed_rsa):
    with pytest.raises(KsefXmlError) as info:
        verify_signed_auth_request(signed_rsa, now=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert info.value.kind == "bad_certificate"


# --- tampering ----------------------------------------------------------------------------------


def _tamper(xml, edit):
    root = etree.fromstring(xml)
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def test_changed_challenge_is_bad_signature(signed_rsa):
    def edit(root):
        root.find(f"{{{AUTH_NS_20}}}Challenge").text = "20250514-CR-226FB7B000-3ACF9BE4C0-11"

    assert _kind(_tamper(signed_rsa, edit)) == "bad_signature"


def test_changed_context_is_bad_signature(signed_rsa):
    assert _kind(signed_rsa.replace(b"5265877635</Nip>", b"6824515772</Nip>")) == "bad_signature"


def test_swapped_certificate_is_bad_signature(signed_rsa, signers):
    _, other = signers["rsa", "seal"]
    other_b64 = base64.b64encode(other.public_bytes(serialization.Encoding.DER)).decode()

    def edit(root):
        root.find(".//ds:X509Certificate", NS).text = other_b64

    assert _kind(_tamper(signed_rsa, edit)) == "bad_signature"


def test_removed_signed_properties_is_bad_signature(signed_rsa):
    def edit(root):
        props = root.find(".//xades:SignedProperties", NS)
        props.getparent().remove(props)

    assert _kind(_tamper(signed_rsa, edit)) == "bad_signature"


def test_changed_signature_value_is_bad_signature(signed_rsa):
    def edit(root):
        value = root.find(".//ds:SignatureValue", NS)
        raw = bytearray(base64.b64decode(value.text))
        raw[10] ^= 1
        value.text = base64.b64encode(bytes(raw)).decode()

    assert _kind(_tamper(signed_rsa, edit)) == "bad_signature"


def test_changed_signing_time_is_bad_signature(signed_rsa):
    def edit(root):
        root.find(".//xades:SigningTime", NS).text = "2020-01-01T00:00:00Z"

    assert _kind(_tamper(signed_rsa, edit)) == "bad_signature"


def test_duplicate_signature_is_multiple_signatures(signed_rsa):
    def edit(root):
        root.append(etree.fromstring(etree.tostring(root[-1])))

    tampered = _tamper(signed_rsa, edit)
    assert _kind(tampered) == "multiple_signatures"
    assert _kind(tampered, read_auth_request) == "multiple_signatures"


def test_signature_not_last_is_refused(signed_rsa):
    def edit(root):
        root.insert(0, root[-1])

    assert _kind(_tamper(signed_rsa, edit)) == "schema"


def test_unsigned_request_is_refused():
    assert _kind(build_auth_token_request(CHALLENGE, NIP)) == "unsigned"


def test_extra_unsigned_element_is_refused(signed_rsa):
    def edit(root):
        root.insert(3, etree.Element(f"{{{AUTH_NS_20}}}Extra"))

    assert _kind(_tamper(signed_rsa, edit)) in ("bad_signature", "schema")
    # digest covers the whole document: the signature check fails first
    assert _kind(_tamper(signed_rsa, edit)) == "bad_signature"


def test_enveloping_signature_is_accepted(signers):
    from signxml import methods
    from signxml.xades import XAdESSigner

    key, cert = signers["rsa", "person"]
    request = etree.fromstring(build_auth_token_request(CHALLENGE, NIP))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    signature = XAdESSigner(
        method=methods.enveloping, c14n_algorithm=("http://www.w3.org/2006/12/xml-c14n11")
    ).sign(request, key=key, cert=[pem])
    verified = verify_signed_auth_request(etree.tostring(signature))
    assert verified.challenge == CHALLENGE and verified.context == NIP


def test_other_algorithms_are_accepted(signers):
    """signxml's own XAdES (SigningCertificateV2, KeyValue) with c14n 1.0 and rsa-sha512."""
    from signxml import methods
    from signxml.xades import XAdESSigner

    key, cert = signers["rsa", "seal"]
    request = etree.fromstring(build_auth_token_request(CHALLENGE, IID))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    signer = XAdESSigner(
        method=methods.enveloped,
        signature_algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        digest_algorithm="http://www.w3.org/2001/04/xmlenc#sha512",
        c14n_algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    )
    signed = etree.tostring(signer.sign(request, key=key, cert=[pem]))
    verified = verify_signed_auth_request(signed)
    assert verified.context == IID
    assert verified.signature_method.endswith("rsa-sha512")


# --- signatures made by xmlsec1 (an independent signer) ---------------------------------------


def _xmlsec1_template(
    cert, *, c14n, sign_alg, digest_alg, digest_uri, data_transform=None, data_uri=""
):
    """An AuthTokenRequest with a XAdES template for ``xmlsec1 --sign`` to fill in."""
    der = cert.public_bytes(serialization.Encoding.DER)
    cert_digest = base64.b64encode(hashlib.new(digest_alg, der).digest()).decode()
    transform = data_transform or (
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    )
    request = build_auth_token_request(CHALLENGE, NIP).split(b"?>", 1)[1].decode().strip()
    extra_object = '<ds:Object Id="data"><Other xmlns="urn:other">x</Other></ds:Object>'
    signature = f"""<ds:Signature xmlns:ds="{DS_NS}" Id="Sig">
<ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="{c14n}"/>
<ds:SignatureMethod Algorithm="{sign_alg}"/>
<ds:Reference URI="{data_uri}"><ds:Transforms>{transform}
<ds:Transform Algorithm="{c14n}"/></ds:Transforms>
<ds:DigestMethod Algorithm="{digest_uri}"/><ds:DigestValue/></ds:Reference>
<ds:Reference URI="#SP" Type="http://uri.etsi.org/01903#SignedProperties"><ds:Transforms>
<ds:Transform Algorithm="{c14n}"/></ds:Transforms>
<ds:DigestMethod Algorithm="{digest_uri}"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo>
<ds:SignatureValue/>
<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
<ds:Object><xades:QualifyingProperties xmlns:xades="{XADES_NS}" Target="#Sig">
<xades:SignedProperties Id="SP"><xades:SignedSignatureProperties>
<xades:SigningTime>2026-01-15T10:00:00Z</xades:SigningTime>
<xades:SigningCertificate><xades:Cert><xades:CertDigest>
<ds:DigestMethod Algorithm="{digest_uri}"/><ds:DigestValue>{cert_digest}</ds:DigestValue>
</xades:CertDigest><xades:IssuerSerial><ds:X509IssuerName>{cert.issuer.rfc4514_string()}</ds:X509IssuerName>
<ds:X509SerialNumber>{cert.serial_number}</ds:X509SerialNumber></xades:IssuerSerial>
</xades:Cert></xades:SigningCertificate>
</xades:SignedSignatureProperties></xades:SignedProperties>
</xades:QualifyingProperties></ds:Object>{extra_object if data_uri else ""}
</ds:Signature>"""
    return request.replace("</AuthTokenRequest>", signature + "</AuthTokenRequest>").encode()


def _xmlsec1_sign(tmp_path, key, cert, template):
    if not shutil.which("xmlsec1"):
        pytest.skip("xmlsec1 is not installed")
    (tmp_path / "key.pem").write_bytes(crypto.private_key_to_pem(key))
    (tmp_path / "cert.pem").write_bytes(crypto.certificate_to_pem(cert))
    (tmp_path / "template.xml").write_bytes(template)
    result = subprocess.run(
        [
            "xmlsec1",
            "--sign",
            "--privkey-pem",
            f"{tmp_path / 'key.pem'},{tmp_path / 'cert.pem'}",
            "--id-attr:Id",
            "SignedProperties",
            "--id-attr:Id",
            "Object",
            "--output",
            str(tmp_path / "out.xml"),
            str(tmp_path / "template.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return (tmp_path / "out.xml").read_bytes()


XMLDSIG_MORE = "http://www.w3.org/2001/04/xmldsig-more#"


@pytest.mark.parametrize(
    "c14n, sign_alg, digest_alg, digest_uri, transform",
    [
        (
            "http://www.w3.org/2001/10/xml-exc-c14n#",
            XMLDSIG_MORE + "rsa-sha512",
            "sha512",
            "http://www.w3.org/2001/04/xmlenc#sha512",
            None,
        ),
        (
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            XMLDSIG_MORE + "rsa-sha256",
            "sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
            '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
            "<ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>",
        ),
        (
            "http://www.w3.org/2006/12/xml-c14n11",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "sha1",
            "http://www.w3.org/2000/09/xmldsig#sha1",
            None,
        ),
    ],
    ids=["exc-c14n-rsa-sha512", "c14n10-xpath", "rsa-sha1"],
)
def test_signatures_made_by_xmlsec1_verify(
    tmp_path, signers, c14n, sign_alg, digest_alg, digest_uri, transform
):
    key, cert = signers["rsa", "person"]
    template = _xmlsec1_template(
        cert,
        c14n=c14n,
        sign_alg=sign_alg,
        digest_alg=digest_alg,
        digest_uri=digest_uri,
        data_transform=transform,
    )
    signed = _xmlsec1_sign(tmp_path, key, cert, template)
    verified = verify_signed_auth_request(signed)
    assert verified.challenge == CHALLENGE and verified.signature_method == sign_alg
    tampered = signed.replace(b"5265877635</Nip>", b"6824515772</Nip>")
    assert _kind(tampered) == "bad_signature"


def test_signature_not_covering_the_request_is_refused(tmp_path, signers):
    """Like a detached signature: valid, but it signs something else than the request."""
    key, cert = signers["rsa", "person"]
    template = _xmlsec1_template(
        cert,
        c14n="http://www.w3.org/2006/12/xml-c14n11",
        sign_alg=XMLDSIG_MORE + "rsa-sha256",
        digest_alg="sha256",
        digest_uri="http://www.w3.org/2001/04/xmlenc#sha256",
        data_transform="<!-- no enveloped transform -->",
        data_uri="#data",
    )
    signed = _xmlsec1_sign(tmp_path, key, cert, template)
    assert _kind(signed) == "bad_signature"


def test_external_reference_is_refused(signed_rsa):
    def edit(root):
        root.find(".//ds:Reference", NS).set("URI", "file:///etc/hostname")

    assert _kind(_tamper(signed_rsa, edit)) == "bad_signature"


# --- safe parsing ---------------------------------------------------------------------------------

REQUEST = build_auth_token_request(CHALLENGE, NIP)
BODY = REQUEST.split(b"?>", 1)[1]


@pytest.mark.parametrize(
    "data, kind",
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<x>&e;</x>",
            "forbidden_dtd",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
            b"<lolz>&lol3;</lolz>",
            "forbidden_dtd",
        ),
        (
            b'<!DOCTYPE AuthTokenRequest SYSTEM "http://example.com/evil.dtd">' + BODY,
            "forbidden_dtd",
        ),
        (
            b'<!DOCTYPE AuthTokenRequest PUBLIC "-//X//Y" "file:///etc/passwd">' + BODY,
            "forbidden_dtd",
        ),
        (
            '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'.encode("utf-16"),
            "forbidden_dtd",
        ),
        (b"<x>" + b"a" * MAX_XML_SIZE + b"</x>", "too_large"),
        (b"not xml at all", "malformed"),
        (b"", "malformed"),
        (b"<AuthTokenRequest>", "malformed"),
        (b"<a>&undefined;</a>", "malformed"),
        (12345, "malformed"),
        (None, "malformed"),
        ('{"challenge": "x"}', "malformed"),
    ],
)
def test_parse_xml_safely_refuses(data, kind):
    for func in (parse_xml_safely, verify_signed_auth_request, read_auth_request):
        assert _kind(data, func) == kind


def test_parse_xml_safely_accepts_text_and_bytes():
    assert etree.QName(parse_xml_safely(REQUEST)).localname == "AuthTokenRequest"
    as_text = REQUEST.decode()
    assert read_auth_request(as_text).challenge == CHALLENGE
    latin2 = REQUEST.replace(b"utf-8", b"ISO-8859-2")
    assert read_auth_request(latin2.decode("ascii")).challenge == CHALLENGE
    assert read_auth_request(b"\xef\xbb\xbf" + REQUEST).challenge == CHALLENGE
    assert read_auth_request(REQUEST.decode().encode("utf-16")).challenge == CHALLENGE


# --- structure ------------------------------------------------------------------------------------

HEAD = f'<AuthTokenRequest xmlns="{AUTH_NS_20}">'
OK_CTX = "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>"
SUBJ = "<SubjectIdentifierType>certificateSubject</SubjectIdentifierType>"
CHAL = f"<Challenge>{CHALLENGE}</Challenge>"


def _doc(*parts, head=HEAD, tail="</AuthTokenRequest>"):
    return (head + "".join(parts) + tail).encode()


@pytest.mark.parametrize(
    "xml, kind",
    [
        (b"<Foo/>", "wrong_root"),
        (b'<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/1.0"/>', "wrong_root"),
        (_doc(CHAL, OK_CTX, SUBJ, head="<AuthTokenRequest>"), "wrong_root"),
        (_doc(OK_CTX, SUBJ), "schema"),  # missing Challenge
        (_doc(CHAL, SUBJ), "schema"),  # missing ContextIdentifier
        (_doc(CHAL, OK_CTX), "schema"),  # missing SubjectIdentifierType
        (
            _doc(
                CHAL,
                "<ContextIdentifier><Nip>5265877635</Nip>"
                "<InternalId>5265877635-12346</InternalId></ContextIdentifier>",
                SUBJ,
            ),
            "schema",
        ),  # two contexts in one
        (_doc(CHAL, OK_CTX, OK_CTX, SUBJ), "schema"),  # two ContextIdentifier elements
        (
            _doc(CHAL, "<ContextIdentifier><Nip>0265877635</Nip></ContextIdentifier>", SUBJ),
            "schema",
        ),  # bad NIP
        (_doc(CHAL, "<ContextIdentifier><Nip>526587763</Nip></ContextIdentifier>", SUBJ), "schema"),
        (
            _doc(CHAL, "<ContextIdentifier><Nip> 5265877635</Nip></ContextIdentifier>", SUBJ),
            "schema",
        ),  # xsd:string: no whitespace collapsing
        (
            _doc(CHAL, "<ContextIdentifier><Pesel>90010112345</Pesel></ContextIdentifier>", SUBJ),
            "schema",
        ),
        (
            _doc(
                CHAL,
                "<ContextIdentifier><InternalId>5265877635-1234</InternalId>"
                "</ContextIdentifier>",
                SUBJ,
            ),
            "schema",
        ),
        (_doc(CHAL, "<ContextIdentifier/>", SUBJ), "schema"),
        (
            _doc("<Challenge>20250514-CR-226fb7b000-3ACF9BE4C0-10</Challenge>", OK_CTX, SUBJ),
            "schema",
        ),
        (
            _doc("<Challenge>20251010-EC-1DCE3E3000-12ECB5B36E-45</Challenge>", OK_CTX, SUBJ),
            "schema",
        ),
        (_doc(OK_CTX, CHAL, SUBJ), "schema"),  # wrong order
        (_doc(CHAL, OK_CTX, "<SubjectIdentifierType>pesel</SubjectIdentifierType>"), "schema"),
        (_doc(CHAL, OK_CTX, SUBJ, "<Extra/>"), "schema"),
        (_doc(CHAL, OK_CTX, SUBJ, "<AuthorizationPolicy/>"), "schema"),
        (
            _doc(
                CHAL,
                OK_CTX,
                SUBJ,
                "<AuthorizationPolicy><AllowedIps><Ip4Address>1.2.3"
                "</Ip4Address></AllowedIps></AuthorizationPolicy>",
            ),
            "schema",
        ),
        (
            _doc(
                CHAL,
                OK_CTX,
                SUBJ,
                "<AuthorizationPolicy><AllowedIps><Ip4Mask>1.2.3.4/33"
                "</Ip4Mask></AllowedIps></AuthorizationPolicy>",
            ),
            "schema",
        ),
        (
            _doc(
                CHAL,
                OK_CTX,
                SUBJ,
                "<AuthorizationPolicy><AllowedIps><Ip4Mask>10.0.0.0/8</Ip4Mask>"
                "<Ip4Address>1.2.3.4</Ip4Address></AllowedIps>"
                "</AuthorizationPolicy>",
            ),
            "schema",
        ),  # wrong order
        (
            _doc(
                CHAL,
                OK_CTX,
                SUBJ,
                "<AuthorizationPolicy><AllowedIps>"
                + "<Ip4Address>1.2.3.4</Ip4Address>" * 11
                + "</AllowedIps></AuthorizationPolicy>",
            ),
            "schema",
        ),  # more than 10
        (
            _doc(CHAL, OK_CTX, SUBJ, head=f'<AuthTokenRequest xmlns="{AUTH_NS_20}" Id="x">'),
            "schema",
        ),
        (_doc(CHAL, "text", OK_CTX, SUBJ), "schema"),
        (_doc(f'<Challenge attr="1">{CHALLENGE}</Challenge>', OK_CTX, SUBJ), "schema"),
        (_doc(f"<Challenge>{CHALLENGE}<b/></Challenge>", OK_CTX, SUBJ), "schema"),
        (
            _doc(
                CHAL,
                f'<ContextIdentifier><Nip xmlns="{AUTH_NS_21}">5265877635</Nip>'
                "</ContextIdentifier>",
                SUBJ,
            ),
            "schema",
        ),  # mixed namespaces
    ],
)
def test_structure_errors(xml, kind):
    assert _kind(xml, read_auth_request) == kind
    assert _kind(xml) in (kind, "unsigned")  # no signature in these documents


@pytest.mark.parametrize(
    "xml, schema_valid",
    [
        (_doc(f"<Challenge>  {CHALLENGE}\n</Challenge>", OK_CTX, SUBJ), True),  # xsd:token
        (_doc(CHAL, "<!-- comment -->", OK_CTX, "\n  ", SUBJ, "<?pi x?>"), True),
        (
            _doc(CHAL, OK_CTX, SUBJ, "<AuthorizationPolicy><AllowedIps/></AuthorizationPolicy>"),
            True,
        ),
        (
            _doc(
                CHAL,
                OK_CTX,
                SUBJ,
                head=f'<AuthTokenRequest xmlns="{AUTH_NS_20}" xmlns:xsi='
                '"http://www.w3.org/2001/XMLSchema-instance" '
                'xsi:schemaLocation="x y">',
            ),
            True,
        ),
        (
            _doc(
                CHAL,
                OK_CTX,
                SUBJ,
                head=f'<a:AuthTokenRequest xmlns:a="{AUTH_NS_21}">',
                tail="</a:AuthTokenRequest>",
            )
            .replace(b"<C", b"<a:C")
            .replace(b"</C", b"</a:C")
            .replace(b"<S", b"<a:S")
            .replace(b"</S", b"</a:S")
            .replace(b"<N", b"<a:N")
            .replace(b"</N", b"</a:N"),
            True,
        ),
    ],
)
def test_structure_accepted_like_the_xsd(schemas, xml, schema_valid):
    info = read_auth_request(xml)
    assert info.challenge == CHALLENGE and info.context == NIP
    root = etree.fromstring(xml)
    assert schemas[etree.QName(root).namespace].validate(root) is schema_valid


def test_nip_vat_ue_and_peppol_are_read():
    # the XSD's patterns for these two end in a literal '$' (libxml2 rejects real values);
    # the intended anchored patterns are applied instead
    xml = _doc(
        CHAL,
        "<ContextIdentifier><NipVatUe>5265877635-ATU12345678</NipVatUe>" "</ContextIdentifier>",
        SUBJ,
    )
    assert read_auth_request(xml).context == ContextIdentifier("NipVatUe", "5265877635-ATU12345678")
    xml = _doc(CHAL, "<ContextIdentifier><PeppolId>PPL123456</PeppolId></ContextIdentifier>", SUBJ)
    assert read_auth_request(xml).context.value == "PPL123456"
    bad = _doc(
        CHAL,
        "<ContextIdentifier><NipVatUe>5265877635-XX123</NipVatUe>" "</ContextIdentifier>",
        SUBJ,
    )
    assert _kind(bad, read_auth_request) == "schema"


def test_check_auth_token_request_accepts_an_element_tree():
    tree = etree.ElementTree(etree.fromstring(REQUEST))
    assert check_auth_token_request(tree).context == NIP
    with pytest.raises(KsefXmlError) as info:
        check_auth_token_request(etree.Comment("x"))
    assert info.value.kind == "wrong_root"
