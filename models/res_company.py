from odoo import api, fields, models

from ..ksef import identifiers as ksef_ids
from ..ksef.errors import KsefIdentifierError

KSEF_ENVIRONMENTS = [
    ("test", "Test"),
    ("demo", "Demo"),
    ("prod", "Production"),
    ("sandbox", "Sandbox (local simulator)"),
]


class ResCompany(models.Model):
    _inherit = "res.company"

    ksef_environment = fields.Selection(
        KSEF_ENVIRONMENTS,
        string="KSeF Environment",
        default="test",
        required=True,
        help="Default KSeF environment for new tokens of this company.\n"
        "Test: the Ministry's test system (self-signed certificates, fake data).\n"
        "Demo: pre-production with production rules, no real invoices.\n"
        "Production: the real KSeF; invoices there are legally binding.\n"
        "Sandbox: a KSeF simulator inside Odoo, to try the addon without KSeF credentials.",
    )
    ksef_nip = fields.Char(
        string="KSeF NIP",
        compute="_compute_ksef_nip",
        store=True,
        recursive=True,
        help="The 10-digit NIP of this company's KSeF context, from its Tax ID (or its parent's).",
    )
    ksef_internal_id = fields.Char(
        string="KSeF Internal ID",
        copy=False,
        help="For a branch (oddział): its KSeF internal identifier (IDWew), the company NIP "
        "followed by a dash and 5 digits, the last one a check digit, e.g. 5265877635-00017.",
    )
    ksef_token_ids = fields.One2many("ksef.token", "company_id", string="KSeF Tokens")

    _sql_constraints = [
        (
            "ksef_internal_id_unique",
            "UNIQUE(ksef_internal_id)",
            "This KSeF internal ID is already used by another branch.",
        ),
    ]

    @api.depends("vat", "parent_id.ksef_nip")
    def _compute_ksef_nip(self):
        for company in self:
            nip = False
            for vat in (company.vat, company.parent_id.ksef_nip):
                if vat:
                    try:
                        nip = ksef_ids.normalize_nip(vat)
                        break
                    except KsefIdentifierError:
                        continue
            company.ksef_nip = nip

    @api.constrains("ksef_internal_id", "ksef_nip")
    def _check_ksef_internal_id(self):
        for company in self.filtered("ksef_internal_id"):
            company._ksef_validate_internal_id(company.ksef_internal_id)

    def _ksef_validate_internal_id(self, value):
        """Normalised InternalId, or a translated ValidationError saying what is wrong."""
        from odoo.exceptions import ValidationError

        self.ensure_one()
        try:
            internal_id = ksef_ids.validate_internal_id(value)
        except KsefIdentifierError as e:
            if e.kind == "bad_internal_id_checksum":
                raise ValidationError(
                    self.env._(
                        "The KSeF internal ID %(value)s has a wrong check digit: the last digit "
                        "must be the weighted sum (1, 3, 1, 3, ...) of the NIP and the first four "
                        "digits, modulo 10.",
                        value=value,
                    )
                ) from e
            raise ValidationError(
                self.env._(
                    "The KSeF internal ID %(value)s is not valid: it must be the company NIP, "
                    "a dash and 5 digits (e.g. 5265877635-00017).",
                    value=value,
                )
            ) from e
        if self.ksef_nip and internal_id.split("-")[0] != self.ksef_nip:
            raise ValidationError(
                self.env._(
                    "The KSeF internal ID %(value)s does not start with the NIP %(nip)s of "
                    "%(company)s.",
                    value=value,
                    nip=self.ksef_nip,
                    company=self.display_name,
                )
            )
        return internal_id

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("ksef_internal_id"):
                vals["ksef_internal_id"] = vals["ksef_internal_id"].strip()
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("ksef_internal_id"):
            vals["ksef_internal_id"] = vals["ksef_internal_id"].strip()
        return super().write(vals)

    def _ksef_context(self, scope="company"):
        """The KSeF context identifier (``ksef.identifiers.ContextIdentifier``) of this company
        for a token scope: the branch InternalId for ``branch``, else the NIP."""
        self.ensure_one()
        if scope == "branch":
            return ksef_ids.ContextIdentifier.internal_id(self.ksef_internal_id)
        return ksef_ids.ContextIdentifier.nip(self.ksef_nip)
