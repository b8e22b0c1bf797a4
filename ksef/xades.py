"""The XAdES-signed ``AuthTokenRequest`` of ``POST /auth/xades-signature`` (REFERENCE 2.2).

* :func:`build_auth_token_request` writes the request (schema ``schemat_auth_v2-0/2-1.xsd``);
* :func:`parse_xml_safely` parses untrusted XML (size limit, no DTD/entities, no network);
* :func:`check_auth_token_request` checks the structure the official XSD describes (the XSD
  itself is not shipped; the tests validate against it) and returns :class:`AuthRequestInfo`;
* :func:`sign_auth_token_request` adds an enveloped XAdES-BES signature (signxml,
  c14n 1.1, SHA-256, rsa-sha256 / ecdsa-sha256 with ``R||S`` values);
* :func:`verify_signed_auth_request` verifies such a signature, made here or elsewhere
  (e.g. Profil Zaufany: other c14n variants and algorithms are accepted), with TEST semantics:
  the certificate embedded in ``KeyInfo`` is used as is, without a chain check.

Every refusal is a :class:`~.errors.KsefXmlError` whose ``kind`` says why.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from . import crypto, models
from .errors import KsefCryptoError, KsefIdentifierError, KsefXmlError
from .identifiers import ContextIdentifier

__all__ = [
    "AUTH_NAMESPACES",
    "AUTH_NS_20",
    "AUTH_NS_21",
    "DS_NS",
    "MAX_XML_SIZE",
    "SUBJECT_IDENTIFIER_TYPES",
    "XADES_NS",
    "AuthRequestInfo",
    "VerifiedAuthRequest",
    "build_auth_token_request",
    "check_auth_token_request",
    "parse_xml_safely",
    "read_auth_request",
    "sign_auth_token_request",
    "verify_signed_auth_request",
]

AUTH_NS_20 = "http://ksef.mf.gov.pl/auth/token/2.0"
AUTH_NS_21 = "http://ksef.mf.gov.pl/auth/token/2.1"
AUTH_NAMESPACES = (AUTH_NS_20, AUTH_NS_21)
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
#: largest XML document accepted (a signed request is a few kilobytes)
MAX_XML_SIZE = 256 * 1024
SUBJECT_IDENTIFIER_TYPES = ("certificateSubject", "certificateFingerprint")
MAX_IPS_PER_KIND = 10

C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
_SIGNATURE = f"{{{DS_NS}}}Signature"

# --- patterns of the official XSD (v2.1; anchored with fullmatch) ---------------------------
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IP4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_IP_PATTERNS = {
    "Ip4Address": re.compile(_IP4),
    "Ip4Range": re.compile(rf"{_IP4}-{_IP4}"),
    "Ip4Mask": re.compile(rf"{_IP4}/(0|[1-9]|[12][0-9]|3[0-2])"),
}
_IP_FIELDS = {"Ip4Address": "ip4_addresses", "Ip4Range": "ip4_ranges", "Ip4Mask": "ip4_masks"}
_CHALLENGE_RE = re.compile(r"\d{8}-CR-[A-F0-9]{10}-[A-F0-9]{10}-[A-F0-9]{2}")
_NIP = r"[1-9]((\d[1-9])|([1-9]\d))\d{7}"
# The XSD's NipVatUe/PeppolId patterns end in '$' (and PeppolId starts with '^'): in XML Schema
# regular expressions those are literal characters, so libxml2 rejects every real value. KSeF
# clearly means anchors; they are treated as anchors here.
_CONTEXT_PATTERNS = {
    "Nip": re.compile(_NIP),
    "InternalId": re.compile(rf"{_NIP}-\d{{5}}"),
    "NipVatUe": re.compile(
        rf"{_NIP}-((AT)(U\d{{8}})|(BE)([01]{{1}}\d{{9}})|(BG)(\d{{9,10}})|(CY)(\d{{8}}[A-Z])"
        r"|(CZ)(\d{8,10})|(DE)(\d{9})|(DK)(\d{8})|(EE)(\d{9})|(EL)(\d{9})"
        r"|(ES)([A-Z]\d{8}|\d{8}[A-Z]|[A-Z]\d{7}[A-Z])|(FI)(\d{8})|(FR)[A-Z0-9]{2}\d{9}"
        r"|(HR)(\d{11})|(HU)(\d{8})|(IE)(\d{7}[A-Z]{2}|\d[A-Z0-9+*]\d{5}[A-Z])|(IT)(\d{11})"
        r"|(LT)(\d{9}|\d{12})|(LU)(\d{8})|(LV)(\d{11})|(MT)(\d{8})|(NL)([A-Z0-9+*]{12})"
        r"|(PT)(\d{9})|(RO)(\d{2,10})|(SE)(\d{12})|(SI)(\d{8})|(SK)(\d{10})"
        r"|(XI)((\d{9}|(\d{12}))|(GD|HA)(\d{3})))"
    ),
    "PeppolId": re.compile(r"P[A-Z]{2}[0-9]{6}"),
}


def _fail(kind, message, **kw):
    raise KsefXmlError(message, kind=kind, **kw)


# --- results ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AuthRequestInfo:
    """What an ``AuthTokenRequest`` asks for."""

    namespace: str
    challenge: str
    context: ContextIdentifier
    subject_identifier_type: str
    authorization_policy: models.AuthorizationPolicy | None = None
    signed: bool = False


@dataclasses.dataclass(frozen=True)
class VerifiedAuthRequest:
    """A signed ``AuthTokenRequest`` whose signature verified, and who signed it.

    ``subject`` is the identity KSeF reads from the certificate subject (``None`` when there
    is no NIP/PESEL in it); ``fingerprint`` is the certificate SHA-256 in upper-case hex.
    """

    namespace: str
    challenge: str
    context: ContextIdentifier
    subject_identifier_type: str
    authorization_policy: models.AuthorizationPolicy | None
    signed: bool
    certificate: x509.Certificate = dataclasses.field(repr=False)
    subject: models.Identifier | None
    fingerprint: str
    signature_method: str = ""

    @property
    def info(self) -> AuthRequestInfo:
        """The request part as an :class:`AuthRequestInfo`."""
        return AuthRequestInfo(
            self.namespace,
            self.challenge,
            self.context,
            self.subject_identifier_type,
            self.authorization_policy,
            self.signed,
        )


# --- building -----------------------------------------------------------------------------------


def _context_of(context):
    if isinstance(context, ContextIdentifier):
        return context
    if isinstance(context, models.Identifier):
        return ContextIdentifier(context.type, context.value)
    if isinstance(context, dict):
        return ContextIdentifier(context.get("type"), context.get("value"))
    raise TypeError("context must be a ContextIdentifier")


def _policy_elements(parent, tag, policy):
    allowed = etree.SubElement(
        etree.SubElement(parent, tag("AuthorizationPolicy")), tag("AllowedIps")
    )
    for name, field in _IP_FIELDS.items():
        for value in getattr(policy, field) or ():
            etree.SubElement(allowed, tag(name)).text = value


def build_auth_token_request(
    challenge,
    context,
    subject_identifier_type="certificateSubject",
    authorization_policy: models.AuthorizationPolicy | None = None,
    namespace=AUTH_NS_20,
) -> bytes:
    """The UTF-8 ``AuthTokenRequest`` XML (with declaration) to be signed.

    ``context`` is a :class:`ContextIdentifier` (or ``models.Identifier``);
    ``authorization_policy`` is left out when empty. The result is checked with
    :func:`check_auth_token_request`; invalid input raises :class:`KsefXmlError` (``schema``).
    """
    if namespace not in AUTH_NAMESPACES:
        raise ValueError("namespace must be AUTH_NS_20 or AUTH_NS_21")
    context = _context_of(context)

    def tag(name):
        return f"{{{namespace}}}{name}"

    root = etree.Element(tag("AuthTokenRequest"), nsmap={None: namespace})
    etree.SubElement(root, tag("Challenge")).text = challenge
    ctx = etree.SubElement(root, tag("ContextIdentifier"))
    etree.SubElement(ctx, tag(context.type)).text = context.value
    etree.SubElement(root, tag("SubjectIdentifierType")).text = subject_identifier_type
    if authorization_policy:
        _policy_elements(root, tag, authorization_policy)
    check_auth_token_request(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="utf-8")


# --- safe parsing -------------------------------------------------------------------------------

_DTD_MARKERS = [
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("ascii", "utf-16-le", "utf-16-be")
]
_XML_DECL_ENCODING_RE = re.compile(r"^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*(['\"])[^'\"]*\2")


def _safe_parser():
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


def _to_bytes(data):
    if isinstance(data, str):
        data = _XML_DECL_ENCODING_RE.sub(r"\1", data.lstrip("\ufeff"), count=1)
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    _fail("malformed", "The XML document must be bytes or text.")


def parse_xml_safely(data) -> etree._Element:
    """Parse untrusted XML and return its root element.

    Refuses documents over :data:`MAX_XML_SIZE` (``too_large``), any DOCTYPE or entity
    declaration before it could be expanded (``forbidden_dtd``: XXE, billion laughs, external
    DTDs) and anything not well-formed (``malformed``). Never touches the network or files.
    """
    raw = _to_bytes(data)
    if len(raw) > MAX_XML_SIZE:
        _fail("too_large", f"The XML document is larger than {MAX_XML_SIZE} bytes.")
    upper = raw.upper()
    if any(marker in upper for marker in _DTD_MARKERS):
        _fail("forbidden_dtd", "XML documents with a DOCTYPE or entity declarations are refused.")
    try:
        tree = etree.ElementTree(etree.fromstring(raw, parser=_safe_parser()))
    except (etree.XMLSyntaxError, ValueError):
        _fail("malformed", "The document is not well-formed XML.")
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        _fail("forbidden_dtd", "XML documents with a DOCTYPE are refused.")
    root = tree.getroot()
    if any(True for _ in root.iter(etree.Entity)):
        _fail("forbidden_dtd", "XML documents with entity references are refused.")
    return root


# --- structure (equivalent to the XSD) ----------------------------------------------------------


def _schema_fail(message):
    _fail("schema", message)


def _elements(parent):
    """Child elements of ``parent``; text between them must be whitespace (element-only)."""
    if parent.text and parent.text.strip():
        _schema_fail(f"Unexpected text inside {etree.QName(parent).localname}.")
    children = []
    for child in parent:
        if child.tail and child.tail.strip():
            _schema_fail(f"Unexpected text inside {etree.QName(parent).localname}.")
        if isinstance(child.tag, str):
            children.append(child)
    return children


def _check_attributes(element):
    for name in element.attrib:
        if etree.QName(name).namespace != XSI_NS:
            _schema_fail(f"Unexpected attribute on {etree.QName(element).localname}.")


def _simple_value(element, collapse):
    """Text of a simple-typed element (comments/PIs ignored); ``collapse`` for xsd:token."""
    _check_attributes(element)
    if any(isinstance(child.tag, str) for child in element):
        _schema_fail(f"{etree.QName(element).localname} must not contain elements.")
    text = "".join(element.itertext())
    return " ".join(text.split()) if collapse else text


def _expect(children, index, namespace, name, optional=False):
    if index < len(children) and children[index].tag == f"{{{namespace}}}{name}":
        _check_attributes(children[index])
        return children[index]
    if optional:
        return None
    _schema_fail(f"Expected element {name} at position {index + 1} of AuthTokenRequest.")


def _check_challenge(element):
    value = _simple_value(element, collapse=True)
    if len(value) != 36 or not _CHALLENGE_RE.fullmatch(value):
        _schema_fail("Challenge does not match the KSeF challenge pattern.")
    return value


def _check_context(element, namespace):
    children = _elements(element)
    if len(children) != 1:
        _schema_fail("ContextIdentifier must hold exactly one identifier.")
    child = children[0]
    qname = etree.QName(child)
    if qname.namespace != namespace or qname.localname not in _CONTEXT_PATTERNS:
        _schema_fail("ContextIdentifier must be Nip, InternalId, NipVatUe or PeppolId.")
    value = _simple_value(child, collapse=False)
    if not _CONTEXT_PATTERNS[qname.localname].fullmatch(value):
        _schema_fail(f"The {qname.localname} value does not match its XSD pattern.")
    try:
        return ContextIdentifier(qname.localname, value)
    except KsefIdentifierError:  # pragma: no cover - patterns above are at least as strict
        _schema_fail("Invalid context identifier.")


def _check_subject_type(element):
    value = _simple_value(element, collapse=True)
    if value not in SUBJECT_IDENTIFIER_TYPES:
        _schema_fail(
            "SubjectIdentifierType must be certificateSubject or " "certificateFingerprint."
        )
    return value


def _check_policy(element, namespace):
    children = _elements(element)
    if len(children) != 1 or children[0].tag != f"{{{namespace}}}AllowedIps":
        _schema_fail("AuthorizationPolicy must hold exactly one AllowedIps.")
    _check_attributes(children[0])
    values = {name: [] for name in _IP_FIELDS}
    order = list(_IP_FIELDS)
    last = 0
    for child in _elements(children[0]):
        qname = etree.QName(child)
        if qname.namespace != namespace or qname.localname not in _IP_FIELDS:
            _schema_fail("AllowedIps may only hold Ip4Address, Ip4Range and Ip4Mask.")
        position = order.index(qname.localname)
        if position < last:
            _schema_fail("AllowedIps must list Ip4Address, then Ip4Range, then Ip4Mask.")
        last = position
        value = _simple_value(child, collapse=True)
        if not _IP_PATTERNS[qname.localname].fullmatch(value):
            _schema_fail(f"Invalid IPv4 syntax in {qname.localname}.")
        values[qname.localname].append(value)
        if len(values[qname.localname]) > MAX_IPS_PER_KIND:
            _schema_fail(f"At most {MAX_IPS_PER_KIND} {qname.localname} entries are allowed.")
    return models.AuthorizationPolicy(**{_IP_FIELDS[k]: tuple(v) for k, v in values.items()})


def _root_element(root):
    if isinstance(root, etree._ElementTree):
        root = root.getroot()
    if not isinstance(root, etree._Element) or not isinstance(root.tag, str):
        _fail("wrong_root", "The document is not an AuthTokenRequest.")
    return root


def check_auth_token_request(root) -> AuthRequestInfo:
    """Check an ``AuthTokenRequest`` element as the official XSD would, allowing one trailing
    ``ds:Signature`` (not checked here), and return what it asks for.

    Raises :class:`KsefXmlError`: ``wrong_root`` (not ``AuthTokenRequest`` in the 2.0/2.1
    namespace), ``multiple_signatures``, ``schema`` (anything the XSD would refuse).
    """
    root = _root_element(root)
    qname = etree.QName(root)
    if qname.localname != "AuthTokenRequest" or qname.namespace not in AUTH_NAMESPACES:
        _fail("wrong_root", "The document root is not a KSeF AuthTokenRequest (2.0 or 2.1).")
    namespace = qname.namespace
    _check_attributes(root)
    signatures = list(root.iter(_SIGNATURE))
    if len(signatures) > 1:
        _fail("multiple_signatures", "The document holds more than one signature.")
    children = _elements(root)
    signed = bool(children) and children[-1].tag == _SIGNATURE
    if signatures and not signed:
        _schema_fail("The signature must be the last element of AuthTokenRequest.")
    if signed:
        children = children[:-1]
    challenge = _check_challenge(_expect(children, 0, namespace, "Challenge"))
    context = _check_context(_expect(children, 1, namespace, "ContextIdentifier"), namespace)
    subject_type = _check_subject_type(_expect(children, 2, namespace, "SubjectIdentifierType"))
    policy_element = _expect(children, 3, namespace, "AuthorizationPolicy", optional=True)
    policy = _check_policy(policy_element, namespace) if policy_element is not None else None
    if len(children) > (4 if policy_element is not None else 3):
        _schema_fail("Unexpected element after the AuthTokenRequest content.")
    return AuthRequestInfo(namespace, challenge, context, subject_type, policy, signed)


def read_auth_request(xml) -> AuthRequestInfo:
    """Safely parse and structurally check an ``AuthTokenRequest`` (signed or not) without
    verifying any signature: e.g. a file the user signed outside Odoo, before sending it."""
    return check_auth_token_request(parse_xml_safely(xml))


# --- signing ------------------------------------------------------------------------------------


def _signature_algorithm(private_key):
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    bits = private_key.curve.key_size
    digest = "sha256" if bits <= 256 else "sha384" if bits <= 384 else "sha512"
    return f"http://www.w3.org/2001/04/xmldsig-more#ecdsa-{digest}"


def _public_numbers_equal(private_key, certificate):
    def spki(key):
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return spki(private_key.public_key()) == spki(certificate.public_key())


def _make_signer(signing_time, certificate, signature_algorithm):
    """A signxml XAdES signer writing KSeF's ``SigningTime`` and ``SigningCertificate``."""
    from signxml import methods
    from signxml.util import ds_tag, xades_tag
    from signxml.xades import XAdESDataObjectFormat, XAdESSigner

    class _KsefXAdESSigner(XAdESSigner):
        def add_signing_time(self, signed_signature_properties, sig_root, signing_settings):
            element = etree.SubElement(
                signed_signature_properties, xades_tag("SigningTime"), nsmap=self.namespaces
            )
            element.text = signing_time.strftime("%Y-%m-%dT%H:%M:%SZ")

        def add_signing_certificate(self, signed_signature_properties, sig_root, signing_settings):
            # like the official KSeF client: SigningCertificate/Cert with CertDigest (SHA-256
            # of the DER) and IssuerSerial
            der = certificate.public_bytes(serialization.Encoding.DER)
            cert = etree.SubElement(
                etree.SubElement(
                    signed_signature_properties,
                    xades_tag("SigningCertificate"),
                    nsmap=self.namespaces,
                ),
                xades_tag("Cert"),
                nsmap=self.namespaces,
            )
            digest = etree.SubElement(cert, xades_tag("CertDigest"), nsmap=self.namespaces)
            etree.SubElement(digest, ds_tag("DigestMethod"), Algorithm=DIGEST_SHA256)
            etree.SubElement(digest, ds_tag("DigestValue")).text = base64.b64encode(
                self._get_digest(der, algorithm=self.digest_alg)
            ).decode("ascii")
            issuer_serial = etree.SubElement(cert, xades_tag("IssuerSerial"), nsmap=self.namespaces)
            etree.SubElement(
                issuer_serial, ds_tag("X509IssuerName")
            ).text = certificate.issuer.rfc4514_string()
            etree.SubElement(issuer_serial, ds_tag("X509SerialNumber")).text = str(
                certificate.serial_number
            )

    return _KsefXAdESSigner(
        data_object_format=XAdESDataObjectFormat(
            Description="KSeF AuthTokenRequest", MimeType="text/xml"
        ),
        method=methods.enveloped,
        signature_algorithm=signature_algorithm,
        digest_algorithm=DIGEST_SHA256,
        c14n_algorithm=C14N_11,
    )


def sign_auth_token_request(xml, private_key, certificate, *, signing_time=None) -> bytes:
    """Sign an ``AuthTokenRequest`` with an enveloped XAdES-BES signature (the last child of
    the root): c14n 1.1, SHA-256 digests, rsa-sha256 (RSA keys) or ecdsa-sha256 (EC P-256;
    ``SignatureValue`` is ``R||S``), ``KeyInfo/X509Data`` with the certificate and a signed
    ``SigningCertificate`` digest. ``signing_time`` defaults to now minus one minute.

    ``private_key``/``certificate`` are cryptography objects or PEM/DER bytes. Raises
    :class:`KsefCryptoError` for RSA < 2048 / EC < 256 bits or a key not matching the
    certificate, :class:`KsefXmlError` for a document that is not a valid, unsigned request.
    """
    root = parse_xml_safely(xml)
    if check_auth_token_request(root).signed:
        _fail("multiple_signatures", "The request is already signed.")
    key = crypto.check_signing_key(crypto.load_private_key(private_key))
    cert = crypto.load_certificate(certificate)
    if not _public_numbers_equal(key, cert):
        raise KsefCryptoError(
            "The private key does not belong to the certificate.", code="key_mismatch"
        )
    when = signing_time or datetime.now(timezone.utc) - timedelta(minutes=1)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    signer = _make_signer(when.astimezone(timezone.utc), cert, _signature_algorithm(key))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    signed = signer.sign(root, key=key, cert=[pem], always_add_key_value=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(signed, encoding="utf-8")


# --- verification -------------------------------------------------------------------------------

_XPATH_TRANSFORM = "http://www.w3.org/TR/1999/REC-xpath-19991116"
_FILTER2_TRANSFORM = "http://www.w3.org/2002/06/xmldsig-filter2"
_NOT_SIGNATURE_XPATHS = {
    "not(ancestor-or-self::ds:Signature)",
    "not(ancestor-or-self::dsig:Signature)",
}
_SIGNATURE_XPATHS = {
    "/descendant::ds:Signature",
    "//ds:Signature",
    "/descendant::dsig:Signature",
    "//dsig:Signature",
}


def _removes_signature_only(transform):
    """Whether an XPath/Filter 2.0 transform just excludes the signature (enveloped)."""
    algorithm = transform.get("Algorithm")
    if algorithm not in (_XPATH_TRANSFORM, _FILTER2_TRANSFORM):
        return False
    xpaths = [c for c in transform if isinstance(c.tag, str)]
    if len(xpaths) != 1 or etree.QName(xpaths[0]).localname != "XPath":
        return False
    expression = "".join((xpaths[0].text or "").split())
    if algorithm == _XPATH_TRANSFORM:
        return expression in _NOT_SIGNATURE_XPATHS
    return xpaths[0].get("Filter") == "subtract" and expression in _SIGNATURE_XPATHS


def _make_verifier():
    from signxml.util import _remove_sig
    from signxml.xades import XAdESVerifier

    class _KsefXAdESVerifier(XAdESVerifier):
        def _apply_transforms(self, payload, *, transforms_node, signature):
            # signxml ignores XPath / XPath Filter 2.0 transforms: accept the two usual forms
            # that only cut the signature out (as KSeF does); anything else is unsupported
            for transform in transforms_node if transforms_node is not None else ():
                if transform.get("Algorithm") in (_XPATH_TRANSFORM, _FILTER2_TRANSFORM):
                    if not _removes_signature_only(transform):
                        raise ValueError("unsupported XPath transform")
                    _remove_sig(signature, idempotent=True)
            return super()._apply_transforms(
                payload, transforms_node=transforms_node, signature=signature
            )

    return _KsefXAdESVerifier()


def _embedded_certificates(signature):
    texts = signature.findall(f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate")
    certs = []
    for element in texts:
        try:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
            certs.append(x509.load_der_x509_certificate(der))
        except (ValueError, binascii.Error):
            _fail("bad_certificate", "The certificate in the signature's KeyInfo is unreadable.")
    if not certs:
        _fail("bad_signature", "The signature carries no X.509 certificate in KeyInfo.")
    return certs


def _signing_certificate(signature, certs):
    """The KeyInfo certificate the XAdES ``SigningCertificate`` points at (else the first)."""
    digests = signature.findall(f".//{{{XADES_NS}}}CertDigest/{{{DS_NS}}}DigestValue")
    wanted = {"".join((d.text or "").split()) for d in digests}
    for cert in certs:
        for algorithm in (hashes.SHA256(), hashes.SHA1(), hashes.SHA384(), hashes.SHA512()):
            if base64.b64encode(cert.fingerprint(algorithm)).decode() in wanted:
                return cert
    return certs[0]


def _signature_config(signature, certificate):
    from signxml import SignatureMethod
    from signxml.algorithms import DigestAlgorithm
    from signxml.xades import XAdESSignatureConfiguration

    references = signature.findall(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    if len(references) < 2:
        _fail(
            "bad_signature",
            "A XAdES signature needs references to the document and to its SignedProperties.",
        )
    options = {
        "require_x509": True,
        "location": "./",
        "expect_references": len(references),
        "signature_methods": frozenset(m for m in SignatureMethod if not m.name.startswith("HMAC")),
        "digest_algorithms": frozenset(DigestAlgorithm),
    }
    fields = {f.name for f in dataclasses.fields(XAdESSignatureConfiguration)}
    if "verification_time" in fields:
        # signxml >= 4 also checks the certificate's validity period; the validity is checked
        # separately (at the caller's ``now``, as bad_certificate), so let signxml check the
        # signature at a moment the certificate was valid
        options["verification_time"] = crypto.certificate_validity(certificate)[0]
    return XAdESSignatureConfiguration(**options)


def _signed_request(results):
    """The AuthTokenRequest element covered by a verified reference, if any."""
    for result in results:
        element = result.signed_xml
        if element is None or not isinstance(element.tag, str):
            continue
        if element.tag == f"{{{DS_NS}}}Object":
            children = [c for c in element if isinstance(c.tag, str)]
            element = children[0] if len(children) == 1 else None
        if element is not None and etree.QName(element).localname == "AuthTokenRequest":
            return element
    return None


def _verify_signature(root, signature, certificate):
    config = _signature_config(signature, certificate)
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    try:
        # validate_schema=False: libxml2 cannot hold the 20-byte X509SerialNumber of real
        # certificates as xs:integer, so signxml's schema check refuses valid signatures
        results = _make_verifier().verify(
            root, x509_cert=pem, expect_config=config, validate_schema=False
        )
    except Exception as exc:  # signxml, lxml, OpenSSL and cryptography all raise their own
        _fail("bad_signature", "The XAdES signature does not verify.", details=[type(exc).__name__])
    return results


def _check_key_strength(certificate):
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        _fail("bad_certificate", "The signing certificate has an RSA key under 2048 bits.")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        _fail("bad_certificate", "The signing certificate has an EC key under 256 bits.")


def _locate_signature(root):
    signatures = list(root.iter(_SIGNATURE))
    if not signatures:
        _fail("unsigned", "The request is not signed.")
    if len(signatures) > 1:
        _fail("multiple_signatures", "The document holds more than one signature.")
    return signatures[0]


def verify_signed_auth_request(xml, *, now=None) -> VerifiedAuthRequest:
    """Verify a signed ``AuthTokenRequest`` as KSeF TEST does and say who signed it.

    Enveloped (signature as the last child of the root) and enveloping signatures are
    accepted, detached ones are not. The certificate embedded in ``KeyInfo`` is used as is
    (self-signed accepted, no chain check) but must be valid at ``now``. Only what the
    signature covers is trusted. Raises :class:`KsefXmlError` with kind ``too_large``,
    ``malformed``, ``forbidden_dtd``, ``wrong_root``, ``unsigned``, ``multiple_signatures``,
    ``bad_signature``, ``bad_certificate`` or ``schema``.
    """
    root = parse_xml_safely(xml)
    enveloping = root.tag == _SIGNATURE
    if not enveloping:
        qname = etree.QName(root)
        if qname.localname != "AuthTokenRequest" or qname.namespace not in AUTH_NAMESPACES:
            _fail("wrong_root", "The document root is not a KSeF AuthTokenRequest (2.0 or 2.1).")
    signature = _locate_signature(root)
    if not enveloping and signature.getparent() is not root:
        _fail("schema", "The signature must be the last element of AuthTokenRequest.")
    certs = _embedded_certificates(signature)
    certificate = _signing_certificate(signature, certs)
    results = _verify_signature(root, signature, certificate)
    _check_key_strength(certificate)
    if not crypto.certificate_is_valid(certificate, now):
        _fail(
            "bad_certificate",
            "The signing certificate is not valid now (expired or not yet " "valid).",
        )
    info = _checked_content(root, results, enveloping)
    method = signature.find(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}SignatureMethod")
    return VerifiedAuthRequest(
        namespace=info.namespace,
        challenge=info.challenge,
        context=info.context,
        subject_identifier_type=info.subject_identifier_type,
        authorization_policy=info.authorization_policy,
        signed=True,
        certificate=certificate,
        subject=crypto.subject_identifier(certificate),
        fingerprint=crypto.certificate_fingerprint(certificate),
        signature_method=(method.get("Algorithm") if method is not None else "") or "",
    )


def _checked_content(root, results, enveloping):
    """Structure of the signed AuthTokenRequest, which must be the document's own."""
    signed = _signed_request(results)
    if signed is None:
        _fail(
            "bad_signature",
            "The signature does not cover the AuthTokenRequest (detached "
            "signatures are not accepted).",
        )
    signed_info = check_auth_token_request(signed)
    if enveloping:
        return dataclasses.replace(signed_info, signed=True)
    document_info = check_auth_token_request(root)
    if dataclasses.replace(signed_info, signed=True) != document_info:
        _fail("bad_signature", "The signed content differs from the document.")
    return document_info
