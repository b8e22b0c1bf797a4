"""Requesting KSeF certificates from Odoo, without orphans.

With a XAdES session of the signer (a file signed outside Odoo, or a certificate stored in
Odoo: a token session cannot enrol), from the session factory:

1. ``GET /certificates/limits``: nothing is requested when the subject may not;
2. ``GET /certificates/enrollments/data``: the subject, put in the CSR exactly;
3. the key pair is generated in Odoo (EC P-256 by default, RSA 2048 on request);
4. the orphan journal (``ksef.pending.generation``, kind ``certificate``) is committed on a
   cursor of its own with the private key sealed, and the certificate's name carries the
   journal's marker, before ``POST /certificates/enrollments``;
5. the status is polled; an issued certificate is retrieved (``POST /certificates/retrieve``)
   and stored with its key (``ksef.secret.mixin``). A request still pending is stored as
   "Requested" with its key: the sync retrieves it when KSeF has issued it.

Whatever fails after KSeF accepted the request, the journal row keeps the key and the
reference: the recovery stores the certificate when it comes, and discards the key once
KSeF's answer is final and no certificate came.
"""

import base64
import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..ksef.errors import KsefApiError, KsefError, KsefRateLimited
from .ksef_exceptions import KsefRetryLater
from .ksef_pending_generation import marker_of
from .ksef_time import naive_utc

_logger = logging.getLogger(__name__)

#: how long the request waits for KSeF to issue the certificate (s)
ISSUE_WAIT = 30.0


def name_with_marker(name, key):
    """The certificate's KSeF name with the journal marker (KSeF allows letters, digits,
    spaces, ``_`` and ``-`` only, 100 characters at most)."""
    marker = f"odoo-{key[:8]}"
    return f"{name.strip()[: 100 - len(marker) - 1]} {marker}"


class KsefCertificateEnrolment(models.AbstractModel):
    _name = "ksef.certificate.enrolment"
    _description = "KSeF Certificate Enrolment"

    @api.model
    def _ksef_limits(self, session):
        """KSeF's limits for the session's subject (``CertificateLimits``)."""
        return session.run(session.client.get_certificate_limits)

    @api.model
    def _ksef_limits_text(self, limits):
        return self.env._(
            "Requests left: %(requests)s of %(request_limit)s; active certificates left: "
            "%(certificates)s of %(certificate_limit)s.",
            requests=limits.enrollment_remaining,
            request_limit=limits.enrollment_limit,
            certificates=limits.certificate_remaining,
            certificate_limit=limits.certificate_limit,
        )

    @api.model
    def _ksef_enrol(self, session, values, certificate_type, name, key_type="ec"):
        """Request a certificate of ``certificate_type`` named ``name`` for the session's
        subject; returns the new ``ksef.certificate`` (active, or requested when KSeF is
        slower than :data:`ISSUE_WAIT`).

        :param values: ``ksef.certificate`` values (company, scope, operator, environment)
        :raises UserError: the limits, KSeF's refusal, or a lost answer, said in one sentence
        """
        from ..ksef import crypto, csr

        self.env["ksef.access"]._ksef_check_admin(
            self.env["res.company"].browse(values["company_id"])
        )
        Messages = self.env["ksef.messages"]
        try:
            limits = self._ksef_limits(session)
            if not limits.enrollment_remaining:
                raise UserError(
                    self.env._(
                        "KSeF does not allow this signer to request another certificate now. "
                        "%(limits)s Revoke certificates that are no longer used first.",
                        limits=self._ksef_limits_text(limits),
                    )
                )
            if not limits.certificate_remaining:
                raise UserError(
                    self.env._(
                        "This signer already has as many active KSeF certificates as KSeF "
                        "allows. %(limits)s Revoke one that is no longer used first.",
                        limits=self._ksef_limits_text(limits),
                    )
                )
            # (a KSeF-token login is refused here, with its own code: 25001)
            data = session.run(session.client.get_enrollment_data)
            if not limits.can_request:
                raise UserError(
                    self.env._(
                        "KSeF does not allow this signer to request another certificate now. "
                        "%(limits)s Revoke certificates that are no longer used first.",
                        limits=self._ksef_limits_text(limits),
                    )
                )
        except (KsefError, KsefRetryLater) as e:
            raise UserError(Messages._ksef_message(e)) from None
        private_key = csr.generate_key(key_type)
        request = csr.build_csr(private_key, data)
        key_pem = crypto.private_key_to_pem(private_key).decode("ascii")
        company = self.env["res.company"].browse(values["company_id"])
        Journal = self.env["ksef.pending.generation"]
        key = Journal._ksef_open(
            values["environment"],
            company._ksef_context("company"),
            company.id,
            self.env.uid,
            kind="certificate",
            secret=key_pem,
            certificate_name=name.strip(),
            certificate_type=certificate_type,
            key_type=key_type,
            certificate_scope=values.get("scope", "company"),
            operator_ref=values.get("operator_id") or 0,
        )
        ksef_name = name_with_marker(name, key)
        try:
            reference = session.client.enroll_certificate(
                session.access_token, ksef_name, certificate_type, request
            )
        except KsefApiError as e:
            if isinstance(e, KsefRateLimited) or e.http_status is None or e.http_status >= 500:
                raise self._ksef_after_lost_answer(e) from None
            Journal._ksef_update(key, state="failed")
            raise UserError(Messages._ksef_message(e)) from None
        except KsefError as e:
            raise self._ksef_after_lost_answer(e) from None
        Journal._ksef_update(key, state="created", reference_number=reference)
        try:
            status = session.client.wait_for_enrollment(
                session.access_token, reference, poll_interval=0.5, timeout=ISSUE_WAIT
            )
        except KsefError:
            status = None  # still pending, or KSeF did not answer: the sync follows it
        if status is not None and status.failed:
            Journal._ksef_update(key, state="failed")
            raise UserError(
                self.env._(
                    "KSeF refused to issue the certificate: %(reason)s",
                    reason="; ".join([status.description or "", *status.details]).strip("; ")
                    or str(status.code),
                )
            )
        Certificate = self.env["ksef.certificate"]
        certificate = Certificate.create(
            dict(
                values,
                name=ksef_name,
                certificate_type=certificate_type,
                key_type=key_type,
                enrollment_reference=reference,
                request_date=fields.Datetime.now(),
                state="requested",
            )
        )
        certificate.sudo()._ksef_store_secret(key_pem)
        if status is not None and status.issued:
            try:
                with self.env.cr.savepoint():
                    self._ksef_store_issued(session, certificate, status.serial_number)
            except (KsefError, KsefRetryLater) as e:
                # issued, but not retrieved now: it stays Requested with its key, and the
                # sync job retrieves it
                _logger.info(
                    "KSeF certificate %s issued but not retrieved yet (%s)",
                    status.serial_number,
                    type(e).__name__,
                )
        Journal._ksef_close_after_commit(key)
        certificate._ksef_post(
            self.env._(
                "Certificate requested in KSeF by %(user)s: type %(type)s, reference %(ref)s.",
                user=self.env.user.name,
                type=certificate_type,
                ref=reference,
            )
        )
        return certificate

    @api.model
    def _ksef_after_lost_answer(self, error):
        return UserError(
            self.env._(
                "The certificate could not be requested: %(error)s If KSeF received the request "
                "anyway, Odoo finds the certificate by its name and stores it with its key.",
                error=self.env["ksef.messages"]._ksef_message(error),
            )
        )

    @api.model
    def _ksef_store_issued(self, session, certificate, serial_number):
        """Retrieve the issued certificate and store it on ``certificate``; checks that it
        certifies the key Odoo holds."""
        from cryptography.hazmat.primitives import serialization

        from ..ksef import crypto, csr

        retrieved = session.run(session.client.retrieve_certificates, [serial_number])
        found = [r for r in retrieved if r.serial_number == serial_number]
        if not found:
            return False
        cert = crypto.load_certificate(found[0].certificate_der)
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        ours = certificate.sudo()._ksef_private_key().public_key()
        if cert.public_key().public_bytes(serialization.Encoding.DER, public) != ours.public_bytes(
            serialization.Encoding.DER, public
        ):
            raise UserError(
                self.env._(
                    "KSeF returned a certificate for another key than the one Odoo made; it "
                    "was not stored."
                )
            )
        valid_from, valid_to = crypto.certificate_validity(cert)
        certificate.sudo().write(
            {
                "serial_number": serial_number,
                "certificate_der": base64.b64encode(found[0].certificate_der),
                "certificate_type": csr.certificate_type_of(cert) or certificate.certificate_type,
                "subject": cert.subject.rfc4514_string()[:250],
                "valid_from": naive_utc(valid_from),
                "valid_to": naive_utc(valid_to),
                "state": "active",
            }
        )
        return True

    # ------------------------------------------------------------------
    # RECOVERY (called by the journal's recovery for rows of kind "certificate")
    # ------------------------------------------------------------------

    @api.model
    def _ksef_recover_row(self, row):
        """Finish a request whose transaction did not: store the certificate KSeF issued,
        with the key the journal kept; discard the key once KSeF's answer is final and no
        certificate came. Returns the row's new state, or None while it stays open."""
        Journal = self.env["ksef.pending.generation"]
        Certificate = self.env["ksef.certificate"].sudo().with_context(active_test=False)
        reference = row["reference_number"]
        if reference and Certificate.search_count([("enrollment_reference", "=", reference)]):
            Journal._ksef_update(row["key"], state="done")
            return "done"
        company = self.env["res.company"].sudo().browse(row["company_ref"]).exists()
        service = self.env["ksef.session.service"]
        session = service._ksef_subject_session(row["environment"], company) if company else None
        if not session:
            Journal._ksef_update(row["key"], attempts=row["attempts"] + 1, last_error="no_session")
            return None
        with session:
            if not reference:
                marker = f"odoo-{row['key'][:8]}"
                infos = session.run(
                    lambda jwt: list(session.client.iter_certificates(jwt, name=marker))
                )
                if not infos:
                    # KSeF never received the request: nothing will come for this key
                    Journal._ksef_update(row["key"], state="failed")
                    return "failed"
                serial, reference = infos[0].serial_number, False
            else:
                status = session.run(session.client.get_enrollment_status, reference)
                if status.pending:
                    return None
                if status.failed:
                    Journal._ksef_update(row["key"], state="failed")
                    return "failed"
                serial = status.serial_number
            certificate = Certificate.create(
                {
                    "name": name_with_marker(row["certificate_name"] or "Odoo", row["key"]),
                    "company_id": company.id,
                    "scope": row["certificate_scope"] or "company",
                    "operator_id": row["operator_ref"] or False,
                    "certificate_type": row["certificate_type"] or "Authentication",
                    "key_type": row["key_type"] or "ec",
                    "environment": row["environment"],
                    "enrollment_reference": reference or False,
                    "state": "requested",
                }
            )
            certificate._ksef_store_secret(row["secret"])
            self._ksef_store_issued(session, certificate, serial)
        Journal._ksef_update(row["key"], state="done")
        _logger.info("KSeF certificate %s of an unfinished request stored", serial)
        return "done"

    # ------------------------------------------------------------------
    # KEY DOWNLOAD
    # ------------------------------------------------------------------

    @api.model
    def _ksef_export_pkcs12(self, certificate, password):
        """The certificate with its private key as PKCS#12 protected by ``password``, once,
        for a KSeF administrator of its company."""
        from ..ksef import crypto

        certificate.ensure_one()
        self.env["ksef.access"]._ksef_check_admin(certificate.company_id)
        if certificate.key_downloaded:
            raise AccessError(
                self.env._(
                    "The private key of %(name)s was already downloaded once; it cannot be "
                    "downloaded again.",
                    name=certificate.display_name,
                )
            )
        if not password or len(password) < 8:
            raise UserError(self.env._("Choose a password of at least 8 characters."))
        cert_sudo = certificate.sudo()
        data = crypto.make_pkcs12(
            cert_sudo._ksef_private_key(),
            cert_sudo._ksef_certificate(),
            password,
            name=cert_sudo.name,
        )
        cert_sudo.key_downloaded = True
        cert_sudo._ksef_post(
            self.env._(
                "The private key was downloaded as PKCS#12 by %(user)s.", user=self.env.user.name
            )
        )
        _logger.warning(
            "KSeF certificate %s: private key exported by uid %s",
            cert_sudo.serial_number,
            self.env.uid,
        )
        return data


__all__ = ["marker_of", "name_with_marker"]
