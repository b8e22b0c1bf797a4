"""KSeF certificates (``/certificates/*``, REFERENCE §6), mixed into :class:`.KsefClient`.

A KSeF certificate carries an identity (the NIP, PESEL or fingerprint of the subject that
requested it), never permissions or a context. Every call acts on the *authenticated
subject* of the access token:

* :meth:`~KsefCertificateEndpoints.get_certificate_limits`,
  :meth:`~KsefCertificateEndpoints.get_enrollment_data` (the DN for the CSR, see
  :func:`.csr.build_csr`), :meth:`~KsefCertificateEndpoints.enroll_certificate`,
  :meth:`~KsefCertificateEndpoints.get_enrollment_status` /
  :meth:`~KsefCertificateEndpoints.wait_for_enrollment`,
  :meth:`~KsefCertificateEndpoints.retrieve_certificates`,
  :meth:`~KsefCertificateEndpoints.query_certificates` /
  :meth:`~KsefCertificateEndpoints.iter_certificates` and
  :meth:`~KsefCertificateEndpoints.revoke_certificate`;
* enrolment needs a session opened with a XAdES signature (a KSeF-token session is refused
  with 25001 / 25002); an issued ``Authentication`` certificate then logs in with
  :meth:`.KsefAuthFlows.authenticate_with_certificate`.

Requests go through the client's choke point, so failures are the usual typed errors
(:class:`.errors.KsefBadRequest` with ``codes`` such as 25003, ...). Values KSeF would refuse
with 21405 (name, type, page size, revocation reason, serial numbers) raise ``ValueError``
before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import re
import time

from .auth_flows import _poll_until
from .errors import KsefServerError, KsefTimeout
from .models import (
    CertificateInfo,
    CertificateLimits,
    EnrollmentData,
    EnrollmentStatus,
    RetrievedCertificate,
)
from .wire import _bad_body, _format_datetime, _identifier, _reference_path

__all__ = [
    "CERTIFICATE_STATUSES",
    "CERTIFICATE_TYPES",
    "ENROLLMENT_ACCEPTED",
    "ENROLLMENT_ISSUED",
    "REVOCATION_REASONS",
    "KsefCertificateEndpoints",
    "check_certificate_name",
    "check_certificate_type",
]

CERTIFICATE_TYPES = ("Authentication", "Offline")
CERTIFICATE_STATUSES = ("Active", "Blocked", "Revoked", "Expired")
REVOCATION_REASONS = ("Unspecified", "Superseded", "KeyCompromise")
ENROLLMENT_ACCEPTED = 100
ENROLLMENT_ISSUED = 200
#: ``POST /certificates/query`` page size bounds
MIN_QUERY_PAGE, MAX_QUERY_PAGE = 10, 50
#: ``POST /certificates/retrieve`` takes 1-10 serial numbers
MAX_RETRIEVE = 10
#: safety stop for paging loops
MAX_PAGES = 10_000

_NAME_RE = re.compile(r"[a-zA-Z0-9_\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]+")
_SERIAL_RE = re.compile(r"[0-9A-F]{16}")


def check_certificate_name(name):
    """Return ``name`` if KSeF accepts it as a certificate name, else raise ``ValueError``.

    5-100 characters of letters (with Polish diacritics), digits, space, ``_`` and ``-``.
    """
    if not isinstance(name, str):
        raise ValueError("the certificate name must be a string")
    if not 5 <= len(name) <= 100:
        raise ValueError("the certificate name must have 5 to 100 characters")
    if not _NAME_RE.fullmatch(name):
        bad = sorted({ch for ch in name if not _NAME_RE.fullmatch(ch)})
        raise ValueError(
            "the certificate name may hold only letters, digits, spaces, '_' and '-' "
            f"(not {''.join(bad)!r})"
        )
    return name


def check_certificate_type(certificate_type):
    """Return ``certificate_type`` if it is ``Authentication`` or ``Offline``."""
    if certificate_type not in CERTIFICATE_TYPES:
        raise ValueError("the certificate type must be 'Authentication' or 'Offline'")
    return certificate_type


def _check_serial(serial_number):
    if not isinstance(serial_number, str) or not _SERIAL_RE.fullmatch(serial_number):
        raise ValueError("a KSeF certificate serial number is 16 upper-case hex digits")
    return serial_number


def _der(r, key):
    try:
        return base64.b64decode(r.get(key), validate=True)
    except (binascii.Error, ValueError):
        raise _bad_body(r.where, f"field {key} is not base64") from None


def _limit(r, key):
    part = r.obj(key)
    return part.get("remaining", int), part.get("limit", int)


def _certificate_limits(r):
    enrollment_remaining, enrollment_limit = _limit(r, "enrollment")
    certificate_remaining, certificate_limit = _limit(r, "certificate")
    return CertificateLimits(
        can_request=r.get("canRequest", bool),
        enrollment_remaining=enrollment_remaining,
        enrollment_limit=enrollment_limit,
        certificate_remaining=certificate_remaining,
        certificate_limit=certificate_limit,
    )


def _enrollment_data(r):
    optional = (
        ("given_name", "givenName"),
        ("surname", "surname"),
        ("serial_number", "serialNumber"),
        ("unique_identifier", "uniqueIdentifier"),
        ("organization_name", "organizationName"),
        ("organization_identifier", "organizationIdentifier"),
    )
    return EnrollmentData(
        common_name=r.get("commonName"),
        country_name=r.get("countryName"),
        **{field: r.get(key, required=False) for field, key in optional},
    )


def _enrollment_status(r):
    status = r.obj("status")
    return EnrollmentStatus(
        code=status.get("code", int),
        description=status.get("description", required=False, default=""),
        details=status.strings("details"),
        serial_number=r.get("certificateSerialNumber", required=False),
        request_date=r.when("requestDate", required=False),
    )


def _retrieved(r):
    return RetrievedCertificate(
        serial_number=r.get("certificateSerialNumber"),
        name=r.get("certificateName"),
        certificate_type=r.get("certificateType"),
        certificate_der=_der(r, "certificate"),
    )


def _certificate_info(r):
    return CertificateInfo(
        serial_number=r.get("certificateSerialNumber"),
        name=r.get("name"),
        certificate_type=r.get("type"),
        common_name=r.get("commonName"),
        status=r.get("status"),
        subject_identifier=_identifier(r, "subjectIdentifier"),
        valid_from=r.when("validFrom"),
        valid_to=r.when("validTo"),
        last_use_date=r.when("lastUseDate", required=False),
        request_date=r.when("requestDate"),
    )


class KsefCertificateEndpoints:
    """The ``/certificates/*`` endpoints of :class:`.KsefClient`."""

    def get_certificate_limits(self, access_token):
        """``GET /certificates/limits``: the subject's enrolment and certificate limits.

        :returns: :class:`CertificateLimits`
        :raises KsefError: transport, API or unexpected-body errors
        """
        return _certificate_limits(
            self._call_object(
                "GET", "/certificates/limits", "certificate-limits", bearer=access_token
            )
        )

    def get_enrollment_data(self, access_token):
        """``GET /certificates/enrollments/data``: the DN the CSR must carry, taken by KSeF
        from the certificate that opened the session.

        :returns: :class:`EnrollmentData` (pass it to :func:`.csr.build_csr`)
        :raises KsefBadRequest: 25001 the session was not opened with a certificate (token)
        :raises KsefError: other transport, API or unexpected-body errors
        """
        return _enrollment_data(
            self._call_object(
                "GET", "/certificates/enrollments/data", "enrollment-data", bearer=access_token
            )
        )

    def enroll_certificate(self, access_token, name, certificate_type, csr_der, valid_from=None):
        """``POST /certificates/enrollments``: ask KSeF to issue a certificate.

        :param name: the certificate's own name (5-100 of ``[a-zA-Z0-9_\\- ąćęłńóśźż...]``)
        :param certificate_type: ``Authentication`` or ``Offline``
        :param csr_der: the DER PKCS#10 request (:func:`.csr.build_csr`); sent as base64
        :param valid_from: optional start of validity (datetime, naive = UTC, or ISO string)
        :returns: the enrolment's reference number (``…-EH-…``); poll it with
            :meth:`wait_for_enrollment`
        :raises ValueError: a name, type or CSR KSeF would refuse with 21405
        :raises KsefBadRequest: 25002 token session, 25003 DN differs from the enrolment data,
            25004 bad CSR or signature, 25006 enrolment limit, 25007 certificate limit, 25010
            key type or size, 25011 CSR signature algorithm
        :raises KsefError: other transport, API or unexpected-body errors
        """
        check_certificate_name(name)
        check_certificate_type(certificate_type)
        if not isinstance(csr_der, bytes | bytearray) or not csr_der:
            raise ValueError("csr_der must be the DER bytes of a PKCS#10 request")
        body = {
            "certificateName": name,
            "certificateType": certificate_type,
            "csr": base64.b64encode(bytes(csr_der)).decode("ascii"),
        }
        if valid_from is not None:
            body["validFrom"] = _format_datetime(valid_from)
        r = self._call_object(
            "POST", "/certificates/enrollments", "enrollment", bearer=access_token, json_body=body
        )
        r.when("timestamp", required=False)
        return r.get("referenceNumber")

    def get_enrollment_status(self, access_token, reference_number):
        """``GET /certificates/enrollments/{referenceNumber}``: an enrolment's status.

        :returns: :class:`EnrollmentStatus` (``pending`` 100, ``issued`` 200 with
            ``serial_number``, ``failed`` 400/500/550)
        :raises KsefBadRequest: 25005 no such enrolment
        :raises KsefGone: past its 30-day retention
        :raises KsefError: other transport, API or unexpected-body errors
        """
        path = f"/certificates/enrollments/{_reference_path(reference_number)}"
        return _enrollment_status(
            self._call_object("GET", path, "enrollment-status", bearer=access_token)
        )

    def wait_for_enrollment(
        self, access_token, reference_number, *, poll_interval=1.0, timeout=60.0, sleep=time.sleep
    ):
        """Poll :meth:`get_enrollment_status` until the enrolment leaves status 100.

        :returns: the final :class:`EnrollmentStatus` (``issued`` or ``failed``: a rejection
            is a status, not an exception)
        :raises KsefTimeout: still 100 after ``timeout`` seconds (code ``enrollment_timeout``)
        :raises KsefError: as :meth:`get_enrollment_status`
        """

        def check():
            status = self.get_enrollment_status(access_token, reference_number)
            return None if status.pending else status

        status = _poll_until(check, interval=poll_interval, timeout=timeout, sleep=sleep)
        if status is None:
            raise KsefTimeout(
                f"KSeF certificate enrolment {reference_number} still in progress after "
                f"{timeout:g} s",
                code="enrollment_timeout",
                reference_number=reference_number,
            )
        return status

    def retrieve_certificates(self, access_token, serial_numbers):
        """``POST /certificates/retrieve``: the DER of the subject's certificates.

        :param serial_numbers: 1-10 serial numbers (16 upper-case hex); one string is accepted
        :returns: list of :class:`RetrievedCertificate` (unknown serial numbers are left out)
        :raises ValueError: no, too many or malformed serial numbers
        :raises KsefError: transport, API or unexpected-body errors
        """
        if isinstance(serial_numbers, str):
            serial_numbers = [serial_numbers]
        serial_numbers = [_check_serial(s) for s in serial_numbers]
        if not 1 <= len(serial_numbers) <= MAX_RETRIEVE:
            raise ValueError(f"retrieve 1 to {MAX_RETRIEVE} certificates at a time")
        r = self._call_object(
            "POST",
            "/certificates/retrieve",
            "retrieve-certificates",
            bearer=access_token,
            json_body={"certificateSerialNumbers": serial_numbers},
        )
        return [_retrieved(item) for item in r.objects("certificates")]

    def query_certificates(
        self,
        access_token,
        *,
        serial_number=None,
        name=None,
        certificate_type=None,
        status=None,
        expires_after=None,
        page_size=50,
        page_offset=0,
    ):
        """``POST /certificates/query``: one page of the subject's certificates, newest
        request first.

        :param serial_number: exact serial number
        :param name: "contains" filter on the certificate name
        :param certificate_type: ``Authentication`` or ``Offline``
        :param status: ``Active``, ``Blocked``, ``Revoked`` or ``Expired``
        :param expires_after: only certificates valid until after this moment
        :param page_size: 10-50
        :param page_offset: page index, from 0
        :returns: ``(list of CertificateInfo, has_more)``
        :raises ValueError: a filter or page size KSeF would refuse
        :raises KsefError: transport, API or unexpected-body errors
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise ValueError("page_size must be an integer")
        if not MIN_QUERY_PAGE <= page_size <= MAX_QUERY_PAGE:
            raise ValueError(f"page_size must be {MIN_QUERY_PAGE} to {MAX_QUERY_PAGE}")
        if isinstance(page_offset, bool) or not isinstance(page_offset, int) or page_offset < 0:
            raise ValueError("page_offset must be a non-negative integer")
        body = {}
        if serial_number is not None:
            body["certificateSerialNumber"] = _check_serial(serial_number)
        if name is not None:
            body["name"] = str(name)
        if certificate_type is not None:
            body["type"] = check_certificate_type(certificate_type)
        if status is not None:
            if status not in CERTIFICATE_STATUSES:
                raise ValueError("status must be Active, Blocked, Revoked or Expired")
            body["status"] = status
        if expires_after is not None:
            body["expiresAfter"] = _format_datetime(expires_after)
        r = self._call_object(
            "POST",
            "/certificates/query",
            "query-certificates",
            bearer=access_token,
            params={"pageSize": page_size, "pageOffset": page_offset},
            json_body=body,
        )
        items = [_certificate_info(item) for item in r.objects("certificates")]
        return items, r.get("hasMore", bool)

    def iter_certificates(self, access_token, page_size=50, **filters):
        """Every certificate :meth:`query_certificates` shows, page after page.

        :param filters: the filter keywords of :meth:`query_certificates`
        :returns: an iterator of :class:`CertificateInfo`
        :raises KsefServerError: KSeF keeps saying ``hasMore`` with empty pages
        :raises KsefError: as :meth:`query_certificates`
        """
        filters.pop("page_offset", None)
        for offset in range(MAX_PAGES):
            items, more = self.query_certificates(
                access_token, page_size=page_size, page_offset=offset, **filters
            )
            yield from items
            if not more:
                return
            if not items:
                raise KsefServerError(
                    "KSeF reported more certificates on an empty page", code="paging_loop"
                )
        raise KsefServerError("KSeF reported more certificates for too long", code="paging_loop")

    def revoke_certificate(self, access_token, serial_number, reason=None):
        """``POST /certificates/{serial}/revoke``: revoke one of the subject's certificates.

        Sessions already opened with it keep working until they end (REFERENCE §2.7).

        :param reason: ``Unspecified``, ``Superseded``, ``KeyCompromise`` or ``None``
        :raises ValueError: a malformed serial number or unknown reason
        :raises KsefBadRequest: 25008 no such certificate (of this subject), 25009 already
            revoked, blocked or expired
        :raises KsefForbidden: the session was opened with a KSeF token
        :raises KsefError: other transport or API errors
        """
        _check_serial(serial_number)
        body = {}
        if reason is not None:
            if reason not in REVOCATION_REASONS:
                raise ValueError("reason must be Unspecified, Superseded or KeyCompromise")
            body["revocationReason"] = reason
        self._request(
            "POST", f"/certificates/{serial_number}/revoke", bearer=access_token, json_body=body
        )

    def update_test_certificate(self, access_token, serial_number, valid_to):
        """``PUT /testdata/certificates/{serialNumber}`` (TEST environments only): move the
        ``validTo`` of one of the subject's certificates earlier, e.g. to test expiry.

        :param valid_to: the new end of validity (datetime, naive = UTC, or ISO string); KSeF
            refuses a date later than the current one (21405)
        :raises KsefBadRequest: 25008 no such certificate, 21405
        :raises KsefError: other transport or API errors
        """
        _check_serial(serial_number)
        self._request(
            "PUT",
            f"/testdata/certificates/{serial_number}",
            bearer=access_token,
            json_body={"validTo": _format_datetime(valid_to)},
        )
