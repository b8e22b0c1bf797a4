import base64
import binascii
import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef import crypto as ksef_crypto
from ..ksef import permissions as ksef_perms
from ..ksef import xades
from ..ksef.errors import KsefCryptoError, KsefError, KsefXmlError
from ..models import ksef_connection
from ..models.ksef_exceptions import KsefRetryLater
from .ksef_token_import import wipes_inputs

_logger = logging.getLogger(__name__)

#: a challenge is valid 10 minutes in KSeF
CHALLENGE_TTL = timedelta(minutes=10)


class KsefTokenGenerate(models.TransientModel):
    """Generate a KSeF token from Odoo, authorized by a XAdES signature: a file signed
    outside Odoo (Profil Zaufany, qualified signature software) or a certificate stored in
    Odoo's certificate module."""

    _name = "ksef.token.generate"
    _inherit = "ksef.token.import"
    _description = "Generate a KSeF Token"

    step = fields.Selection([("setup", "Set up"), ("sign", "Sign")], default="setup", required=True)
    auth_method = fields.Selection(
        [
            ("upload", "Sign outside Odoo (Profil Zaufany, qualified signature)"),
            ("certificate", "Certificate stored in Odoo"),
        ],
        string="Authorization",
        required=True,
        default="upload",
    )
    certificate_id = fields.Many2one(
        "certificate.certificate",
        groups="base.group_system",
        help="A KSeF authentication certificate or a qualified seal (PKCS#12 with its private "
        "key) stored in Odoo.",
    )
    challenge = fields.Char(readonly=True)
    challenge_date = fields.Datetime(readonly=True)
    auth_request = fields.Binary(string="Request to sign", readonly=True, attachment=False)
    auth_request_filename = fields.Char(default="auth.xml")
    signed_file = fields.Binary(string="Signed file", attachment=False)
    signed_filename = fields.Char()
    description = fields.Char(default=lambda self: self.env._("Odoo – KSeF token"))

    # ------------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------------

    @api.model
    def action_open(self, company=None):
        action = super().action_open(company=company)
        action.update(name=self.env._("Generate a KSeF Token"), res_model=self._name)
        return action

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Generate a KSeF Token"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    def action_prepare_request(self):
        """Fetch a fresh challenge and offer ``auth.xml`` (the AuthTokenRequest) for signing."""
        self.ensure_one()
        context_company = self._ksef_check_input()
        client = ksef_connection.make_client(self.environment)
        try:
            challenge, xml = client.prepare_auth_request(self._ksef_context(context_company))
        except KsefError as e:
            raise UserError(self.env["ksef.messages"]._ksef_message(e)) from None
        self.write(
            {
                "step": "sign",
                "challenge": challenge.challenge,
                "challenge_date": fields.Datetime.now(),
                "auth_request": base64.b64encode(xml),
                "auth_request_filename": f"auth-{challenge.challenge}.xml",
                "signed_file": False,
            }
        )
        return self._reopen()

    @wipes_inputs
    def action_generate(self):
        """Authenticate (signed upload or stored certificate), then generate the token."""
        self.ensure_one()
        context_company = self._ksef_check_input()
        context = self._ksef_context(context_company)
        self = self._ksef_env_for(context_company)  # noqa: PLW0642
        try:
            if self.auth_method == "certificate":
                signer = self._ksef_signer_session(self._ksef_certificate_login(context))
            else:
                signer = self._ksef_signer_session(
                    self._ksef_upload_login(context), replayable=False
                )
        except (KsefError, KsefRetryLater) as e:
            raise UserError(self.env["ksef.messages"]._ksef_message(e)) from None
        with signer:
            try:
                permissions = self._ksef_permissions(signer, context)
            except (KsefError, KsefRetryLater) as e:
                raise UserError(self.env["ksef.messages"]._ksef_message(e)) from None
            values = self._ksef_token_values(context_company, context)
            token = self.env["ksef.token.generation"]._ksef_generate(
                signer, context, values, permissions, self.description
            )
            try:
                signer.client.revoke_current_session(signer.access_token)
            except KsefError:
                _logger.info("KSeF: closing the generation session failed (it expires by itself)")
        token._ksef_post(
            self.env._(
                "Token generated in KSeF by %(user)s (%(method)s): environment %(environment)s, "
                "context %(context)s, type %(type)s, permissions %(permissions)s.",
                user=self.env.user.name,
                method=self._label("auth_method"),
                environment=self._label("environment"),
                context=context.token_prefix,
                type=self._label("token_type"),
                permissions=", ".join(permissions),
            )
        )
        self.write({"signed_file": False, "auth_request": False})
        return self._action_open_token(token)

    # ------------------------------------------------------------------
    # CHECKS
    # ------------------------------------------------------------------

    def _ksef_check_input(self):
        """The company whose context the token is for, after every check of the input."""
        self.env["ksef.access"]._ksef_check_admin()
        # leave room for the generation marker that is added to the description in KSeF
        context_company = self._ksef_check_scope(description_max=200)
        if self.token_type == "custom" and not self.permission_ids:
            raise UserError(self.env._("Choose at least one KSeF permission."))
        # refused now rather than after signing, when KSeF has already created the token
        env = self._ksef_env_for(context_company).env
        env["ksef.token"].check_access("create")
        return context_company

    def _ksef_context(self, context_company):
        return context_company._ksef_context("branch" if self._uses_branch() else "company")

    def _ksef_permissions(self, session, context):
        if self.token_type == "A":
            held = self.env["ksef.token.generation"]._ksef_held_permissions(session, context)
            if not held:
                raise UserError(
                    self.env._(
                        "The signing person holds no token permission in the KSeF context "
                        "%(context)s, so a type A token would carry none.",
                        context=context.token_prefix,
                    )
                )
            return list(held)
        if self.token_type in ksef_perms.TOKEN_TYPE_PERMISSIONS:
            return list(ksef_perms.TOKEN_TYPE_PERMISSIONS[self.token_type])
        return list(ksef_perms.validate_permissions(self.permission_ids.mapped("name")))

    def _ksef_token_values(self, context_company, context):
        return {
            "company_id": context_company.id,
            "scope": self.scope,
            "operator_id": self.user_id.id,
            "context_type": context.type,
            "context_value": context.value,
            "environment": self.environment,
            "token_type": self.token_type,
            "expiry_date": self.expiry_date,
            "user_ids": [(6, 0, self.user_id.ids)],
            "assigned_company_ids": [(6, 0, [] if self.scope == "user" else context_company.ids)],
        }

    # ------------------------------------------------------------------
    # AUTHENTICATION
    # ------------------------------------------------------------------

    def _ksef_signer_session(self, login, replayable=True):
        """A session of the signer from the session factory: ``login(client)`` authenticates
        (XAdES) and returns KSeF's authentication tokens."""
        return self.env["ksef.session.service"]._ksef_transient_session(
            self.environment, login, replayable=replayable
        )

    def _ksef_certificate_login(self, context):
        """Checks the certificate stored in Odoo; returns the login that signs with it."""
        self.env["ksef.access"]._ksef_check_stored_certificate_use()
        certificate = self.sudo().certificate_id
        if not certificate:
            raise UserError(self.env._("Choose the certificate to sign with."))
        if certificate.company_id and certificate.company_id not in (
            self.company_id | self.company_id.parent_ids | self._context_company()
        ):
            raise UserError(
                self.env._(
                    "The certificate %(certificate)s belongs to another company.",
                    certificate=certificate.display_name,
                )
            )
        if not certificate.is_valid or not certificate.private_key_id:
            raise UserError(
                self.env._(
                    "The certificate %(certificate)s cannot sign: it is expired, not loaded or "
                    "has no private key (upload it as PKCS#12 with its password).",
                    certificate=certificate.display_name,
                )
            )
        try:
            cert = ksef_crypto.load_certificate(
                base64.b64decode(certificate.with_context(bin_size=False).pem_certificate)
            )
            key = ksef_crypto.load_private_key(
                base64.b64decode(certificate.private_key_id.with_context(bin_size=False).pem_key)
            )
        except (KsefCryptoError, ValueError, TypeError, binascii.Error):
            raise UserError(
                self.env._(
                    "The certificate %(certificate)s or its private key cannot be read.",
                    certificate=certificate.display_name,
                )
            ) from None
        return lambda client: client.authenticate_with_certificate(
            context, key, cert, poll_interval=0.5
        )

    def _ksef_upload_login(self, context):
        """Checks the uploaded signed request; returns the login that sends it."""
        signed = self._ksef_check_upload(context)
        return lambda client: client.authenticate_with_xades(signed, poll_interval=0.5)

    def _ksef_check_upload(self, context):
        """The uploaded signed request, after checking it is the one we asked to sign."""
        if not self.challenge or not self.signed_file:
            raise UserError(
                self.env._(
                    "Download auth.xml, sign it (Profil Zaufany or qualified signature "
                    "software) and upload the signed file first."
                )
            )
        # bounded before decoding: base64 is 4/3 of the document
        if len(self.signed_file) > xades.MAX_XML_SIZE * 4 // 3 + 4:
            raise UserError(self._ksef_xml_message("too_large"))
        try:
            data = base64.b64decode(self.signed_file, validate=False)
            verified = xades.verify_signed_auth_request(data)
        except binascii.Error:
            raise UserError(self._ksef_xml_message("malformed")) from None
        except KsefXmlError as e:
            raise UserError(self._ksef_xml_message(e.kind)) from None
        if verified.challenge != self.challenge:
            raise UserError(
                self.env._(
                    "The signed file was made for another challenge (an older auth.xml?). Sign "
                    "the auth.xml offered now and upload it."
                )
            )
        if fields.Datetime.now() - self.challenge_date > CHALLENGE_TTL:
            raise UserError(
                self.env._(
                    "The challenge of this request is older than 10 minutes and KSeF no longer "
                    "accepts it. Click 'New auth.xml', sign the new file and upload it within 10 "
                    "minutes."
                )
            )
        if (verified.context.type, verified.context.value) != (context.type, context.value):
            raise UserError(
                self.env._(
                    "The signed file is for the KSeF context %(signed)s, not %(expected)s. Sign "
                    "the auth.xml offered now.",
                    signed=verified.context.token_prefix,
                    expected=context.token_prefix,
                )
            )
        return data

    def _ksef_xml_message(self, kind):
        again = self.env._("Sign the auth.xml offered by Odoo and upload the signed file.")
        messages = {
            "too_large": self.env._("The uploaded file is far too large for a signed request."),
            "malformed": self.env._("The uploaded file is not an XML document."),
            "forbidden_dtd": self.env._(
                "The uploaded file declares a DOCTYPE or entities, which are refused for "
                "security."
            ),
            "wrong_root": self.env._("The uploaded file is not a KSeF AuthTokenRequest."),
            "schema": self.env._("The uploaded file is not a valid KSeF AuthTokenRequest."),
            "unsigned": self.env._("The uploaded file is not signed."),
            "multiple_signatures": self.env._("The uploaded file holds more than one signature."),
            "bad_signature": self.env._(
                "The signature of the uploaded file is invalid: the file was changed after "
                "signing, or the signature does not cover it."
            ),
            "bad_certificate": self.env._(
                "The signing certificate is expired, not yet valid or too weak."
            ),
        }
        message = messages.get(kind) or self.env._("The uploaded file cannot be used.")
        return f"{message} {again}"
