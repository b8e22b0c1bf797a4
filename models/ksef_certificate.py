"""A KSeF certificate known to Odoo: the successor of KSeF tokens.

A KSeF certificate is an identity (the NIP of a company's seal, or the PESEL of a person), with
no permissions of its own: what a session may do comes from the grants of that identity in
the KSeF context. Type Authentication signs the AuthTokenRequest of a XAdES login; type
Offline signs QR code II of offline invoices and never authenticates.

The private key is made in Odoo and rests, like token secrets, in the non-ORM column
``secret_ciphertext`` (``ksef.secret.mixin``), encrypted with the addon's key from the server
configuration. Other modules sign through :meth:`KsefCertificate._ksef_sign_qr_code_ii`; the
key itself leaves Odoo only as a password-protected PKCS#12, once, for a KSeF administrator.
"""

import base64
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .ksef_ui import check_description_text, ksef_identity_checked
from .res_company import KSEF_ENVIRONMENTS

_logger = logging.getLogger(__name__)

CERTIFICATE_TYPES = [
    ("Authentication", "Authentication"),
    ("Offline", "Offline (QR code II)"),
]
CERTIFICATE_STATES = [
    ("requested", "Requested"),
    ("active", "Active"),
    ("blocked", "Blocked"),
    ("revoked", "Revoked"),
    ("expired", "Expired"),
    ("failed", "Rejected"),
]
#: KSeF ``CertificateListItemStatus`` -> our state
KSEF_STATUS_TO_STATE = {
    "Active": "active",
    "Blocked": "blocked",
    "Revoked": "revoked",
    "Expired": "expired",
}
REVOCATION_REASONS = [
    ("Unspecified", "Unspecified"),
    ("Superseded", "Superseded (replaced by another certificate)"),
    ("KeyCompromise", "Key compromised"),
]
KEY_TYPES = [("ec", "EC P-256 (recommended)"), ("rsa", "RSA 2048")]


class CertificateCredential:
    """A KSeF Authentication certificate signing in to one company's (or branch's) context:
    what the session factory asks of a credential (``ksef.token`` is the other kind)."""

    _table = "ksef_certificate"

    def __init__(self, certificate, company):
        self.certificate = certificate.sudo()
        self.company = company.sudo()
        scope = "branch" if self.company.parent_id and self.company.ksef_internal_id else "company"
        self.context = self.company._ksef_context(scope)

    def sudo(self, flag=True):
        return self

    @property
    def id(self):
        return self.certificate.id

    @property
    def environment(self):
        return self.certificate.environment

    @property
    def company_id(self):
        return self.company

    @property
    def display_name(self):
        return self.certificate.display_name

    @property
    def reference_number(self):
        return self.certificate.serial_number

    def _ksef_session_where(self):
        return SQL(
            "certificate_id = %s AND context_value = %s", self.certificate.id, self.context.value
        )

    def _ksef_session_key(self):
        return f"certificate-{self.certificate.id}-{self.context.value}"

    def _ksef_session_insert(self):
        return (
            SQL("certificate_id, context_value"),
            SQL("%s, %s", self.certificate.id, self.context.value),
            SQL("(certificate_id, context_value) WHERE certificate_id IS NOT NULL"),
        )

    def _ksef_authenticate(self, client, policy):
        from .ksef_session_service import AUTH_POLL

        return client.authenticate_with_certificate(
            self.context,
            self.certificate._ksef_private_key(),
            self.certificate._ksef_certificate(),
            authorization_policy=policy,
            **AUTH_POLL,
        )

    def _ksef_after_authentication(self, client, access_token):
        """The permissions the certificate's identity holds in the context."""
        return tuple(client.query_personal_grants(access_token, context=self.context))


class KsefCertificate(models.Model):
    _name = "ksef.certificate"
    _description = "KSeF Certificate"
    _inherit = ["ksef.secret.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "company_id, state, valid_to desc, id desc"

    name = fields.Char(
        required=True,
        tracking=True,
        help="The certificate's name in KSeF (5 to 100 letters, digits, spaces, _ or -).",
    )
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
        ondelete="restrict",
        help="The company whose KSeF work this certificate is for.",
    )
    scope = fields.Selection(
        [("company", "Company (seal)"), ("user", "Operator (person)")],
        required=True,
        default="company",
        readonly=True,
    )
    operator_id = fields.Many2one(
        "res.users",
        readonly=True,
        index=True,
        ondelete="restrict",
        help="For a person's certificate: the user it belongs to.",
    )
    certificate_type = fields.Selection(
        CERTIFICATE_TYPES, string="Type", required=True, readonly=True, tracking=True
    )
    environment = fields.Selection(KSEF_ENVIRONMENTS, required=True, readonly=True)
    state = fields.Selection(
        CERTIFICATE_STATES,
        string="KSeF Status",
        required=True,
        default="requested",
        readonly=True,
        tracking=True,
    )
    origin = fields.Selection(
        [("enrolled", "Requested from Odoo"), ("found", "Found in KSeF")],
        required=True,
        default="enrolled",
        readonly=True,
    )
    serial_number = fields.Char(readonly=True, copy=False, index=True)
    enrollment_reference = fields.Char(readonly=True, copy=False, index=True)
    subject = fields.Char(
        readonly=True, help="The common name of the certificate's subject, as KSeF issued it."
    )
    subject_identifier = fields.Char(
        readonly=True, help="The identity the certificate stands for (NIP, PESEL or fingerprint)."
    )
    key_type = fields.Selection(KEY_TYPES, readonly=True)
    valid_from = fields.Datetime(readonly=True)
    valid_to = fields.Datetime(readonly=True, tracking=True)
    request_date = fields.Datetime(readonly=True)
    last_use_date = fields.Datetime(string="Last Use", readonly=True)
    last_sync_date = fields.Datetime(string="Last Sync", readonly=True)
    status_details = fields.Text(readonly=True)
    certificate_der = fields.Binary(
        string="Certificate",
        attachment=False,
        readonly=True,
        help="The public certificate KSeF issued (DER); not a secret.",
    )
    key_downloaded = fields.Boolean(
        readonly=True,
        copy=False,
        help="The private key was downloaded once as PKCS#12; it cannot be downloaded again.",
    )
    revocation_reason = fields.Selection(REVOCATION_REASONS, readonly=True)
    revoked_from_odoo = fields.Boolean(readonly=True, copy=False)

    _sql_constraints = [
        (
            "serial_environment_unique",
            "UNIQUE(serial_number, environment)",
            "This KSeF certificate is already registered in Odoo.",
        ),
    ]

    # ------------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------------

    @api.depends("name", "serial_number")
    def _compute_display_name(self):
        for certificate in self:
            certificate.display_name = (
                f"{certificate.name} ({certificate.serial_number})"
                if certificate.serial_number
                else certificate.name
            )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_description_text(self.env, vals, "name")
        return super().create(vals_list)

    def write(self, vals):
        check_description_text(self.env, vals, "name")
        return super().write(vals)

    def copy(self, default=None):  # pylint: disable=method-required-super
        raise UserError(
            self.env._(
                "A KSeF certificate cannot be duplicated: request a new one from KSeF instead."
            )
        )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_live(self):
        live = self.filtered(lambda c: c.state in ("requested", "active") and c.origin != "found")
        if live:
            raise UserError(
                self.env._(
                    "These certificates may still work in KSeF: %(certificates)s. Revoke them "
                    "first, or archive them.",
                    certificates=", ".join(live.mapped("display_name")),
                )
            )

    # ------------------------------------------------------------------
    # THE PRIVATE KEY (ksef.secret.mixin)
    # ------------------------------------------------------------------

    def _ksef_aad(self):
        return f"ksef.certificate:{self.environment}:{self.enrollment_reference or self.id}"

    def _ksef_private_key(self):
        """The private key (a ``cryptography`` key object), for the service code. Sudo only."""
        from ..ksef import crypto

        self.ensure_one()
        return crypto.load_private_key(self._ksef_get_secret().encode("ascii"))

    def _ksef_certificate(self):
        """The issued certificate (``cryptography`` object)."""
        from ..ksef import crypto

        self.ensure_one()
        if not self.certificate_der:
            raise UserError(
                self.env._(
                    "KSeF has not issued the certificate %(name)s yet.", name=self.display_name
                )
            )
        return crypto.load_certificate(base64.b64decode(self.certificate_der))

    # ------------------------------------------------------------------
    # WHAT KSEF SAYS ABOUT A CERTIFICATE
    # ------------------------------------------------------------------

    @api.model
    def _ksef_values_from_info(self, info, *, new=False):
        """``ksef.certificate`` values from KSeF's ``CertificateInfo`` (the one place)."""
        from .ksef_time import naive_utc

        values = {
            "state": KSEF_STATUS_TO_STATE.get(info.status, "active"),
            "valid_from": naive_utc(info.valid_from) or False,
            "valid_to": naive_utc(info.valid_to) or False,
            "last_use_date": naive_utc(info.last_use_date) or False,
            "last_sync_date": fields.Datetime.now(),
            "subject_identifier": info.subject_identifier and info.subject_identifier.value,
        }
        if new:
            values.update(
                name=info.name,
                serial_number=info.serial_number,
                certificate_type=info.certificate_type,
                subject=info.common_name,
                request_date=naive_utc(info.request_date) or False,
            )
        return values

    # ------------------------------------------------------------------
    # FOR OTHER MODULES: QR CODE II
    # ------------------------------------------------------------------

    @api.model
    def ksef_offline_certificate(self, company):
        """The active Offline certificate other modules sign QR code II with for ``company``
        (an Offline certificate never signs in to KSeF); empty when Odoo holds none.
        For Python code of other modules, which checked their user's rights."""
        company = company.sudo()
        return self.sudo().search(
            [
                ("company_id", "in", company._ksef_chain().ids),
                ("certificate_type", "=", "Offline"),
                ("state", "=", "active"),
            ],
            order="valid_to desc",
            limit=1,
        )

    def ksef_sign_qr_code_ii(self, text):
        """The Base64URL signature of the QR code II ``text`` (the link without ``https://``
        and without the signature, see KSeF's QR code rules) with this Offline certificate's
        key. Refused for an Authentication certificate, which KSeF does not accept there."""
        from ..ksef import csr

        self.ensure_one()
        certificate = self.sudo()
        if certificate.certificate_type != "Offline":
            raise UserError(
                self.env._(
                    "%(certificate)s is an Authentication certificate: QR code II is signed "
                    "with an Offline certificate.",
                    certificate=certificate.display_name,
                )
            )
        if certificate.state != "active":
            raise UserError(
                self.env._(
                    "%(certificate)s is not active in KSeF.", certificate=certificate.display_name
                )
            )
        return csr.sign_qr_code_ii(certificate._ksef_private_key(), text)

    def _ksef_post(self, body):
        for certificate in self:
            certificate.sudo().message_post(body=body, message_type="notification")

    # ------------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------------

    @api.model
    @ksef_identity_checked
    def action_ksef_open_request(self, *_selected_ids):
        """List header button and menu: the wizard "Request a KSeF certificate"."""
        return self.env["ksef.certificate.request"].action_open()

    @api.model
    def action_ksef_sync(self, *_selected_ids):
        """List and form header button: sync the certificates of the user's companies."""
        return self.env["ksef.certificate.sync"]._ksef_sync_now()

    def action_ksef_download_key(self):
        """Form button: the private key once, as a password-protected PKCS#12 (password
        asked first)."""
        self.ensure_one()
        return self.env["ksef.certificate.export"].action_open(self)

    @ksef_identity_checked
    def action_ksef_revoke_form(self):
        """Form button (password asked first): confirm and revoke with a reason."""
        return self.env["ksef.certificate.revoke"].action_open(self)
