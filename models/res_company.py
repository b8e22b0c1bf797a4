from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..ksef import identifiers as ksef_ids
from ..ksef.errors import KsefIdentifierError
from ..ksef.models import AuthorizationPolicy
from .ksef_ip_policy import MAX_POLICY_ENTRIES, normalize_entry, split_entries

KSEF_ENVIRONMENTS = [
    ("test", "Test"),
    ("demo", "Demo"),
    ("prod", "Production"),
    ("sandbox", "Sandbox (local simulator)"),
]


#: the default number of days before a token's end when its responsible is warned
WARNING_DAYS = 30


class ResCompany(models.Model):
    # activities (health warnings) need a chatter: marking one done posts on the record
    _name = "res.company"
    _inherit = ["res.company", "mail.thread", "mail.activity.mixin"]

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
    ksef_responsible_id = fields.Many2one(
        "res.users",
        string="KSeF Responsible",
        domain=[("share", "=", False)],
        help="Who gets this company's KSeF warnings (a token stopped working or ends soon, "
        "no token to send or fetch invoices), in their language. Empty: the parent company's "
        "responsible, else the first of the company's KSeF administrators.",
    )
    ksef_certificate_requests_left = fields.Integer(
        string="KSeF Certificate Requests Left",
        readonly=True,
        default=-1,
        help="What KSeF said at the last certificate sync (-1: not known yet).",
    )
    ksef_certificates_left = fields.Integer(
        string="Active KSeF Certificates Left",
        readonly=True,
        default=-1,
        help="What KSeF said at the last certificate sync (-1: not known yet).",
    )
    ksef_auth_order = fields.Selection(
        [
            ("tokens_first", "Tokens, then certificates"),
            ("certificates_first", "Certificates, then tokens"),
            ("certificates_only", "Certificates only"),
        ],
        string="KSeF Sign-in Order",
        default="tokens_first",
        required=True,
        help="Which credentials the company's KSeF jobs sign in with. Whatever the order, a "
        "credential that cannot be used (a token after the token cut-off, a revoked one) is "
        "skipped and the next one is used, with no failed run.",
    )
    ksef_warning_days = fields.Integer(
        string="KSeF Warning Window (days)",
        default=WARNING_DAYS,
        help="How many days before a KSeF token stops working (its expiry date, or the legal "
        "end of KSeF tokens) its responsible is warned.",
    )

    ksef_ip4_addresses = fields.Char(
        string="Allowed IPv4 Addresses",
        help="Optional KSeF IP policy: the access tokens of this company's KSeF sessions only "
        "work from these IPv4 addresses (comma separated, at most 10), e.g. 203.0.113.7.",
    )
    ksef_ip4_ranges = fields.Char(
        string="Allowed IPv4 Ranges",
        help="Optional KSeF IP policy: ranges first-last (comma separated, at most 10), e.g. "
        "203.0.113.1-203.0.113.20.",
    )
    ksef_ip4_masks = fields.Char(
        string="Allowed IPv4 Networks",
        help="Optional KSeF IP policy: networks in CIDR notation (comma separated, at most 10), "
        "e.g. 10.0.0.0/8.",
    )
    ksef_job_user_id = fields.Many2one(
        "res.users",
        string="KSeF Jobs User",
        domain="[('share', '=', False)]",
        help="The user as whom the automated KSeF jobs of this company run (connectivity check, "
        "purchase invoice fetch). The jobs have exactly this user's rights: leave it empty to "
        "keep them off for this company.",
    )

    ksef_fetch_watermark = fields.Datetime(
        string="KSeF Invoices Read Until",
        copy=False,
        help="The purchase invoice fetch job has read the invoices KSeF stored until then.",
    )
    ksef_fetch_message = fields.Char(string="Last KSeF Fetch", readonly=True, copy=False)

    _sql_constraints = [
        (
            "ksef_internal_id_unique",
            "UNIQUE(ksef_internal_id)",
            "This KSeF internal ID is already used by another branch.",
        ),
    ]

    @api.constrains("ksef_warning_days")
    def _check_ksef_warning_days(self):
        for company in self:
            if not 0 <= company.ksef_warning_days <= 366:
                raise ValidationError(
                    self.env._(
                        "The KSeF warning window must be between 0 and 366 days; %(days)s was "
                        "entered.",
                        days=company.ksef_warning_days,
                    )
                )

    def _ksef_auth_order(self):
        """How jobs of this company authenticate: ``tokens_first`` (the default while tokens
        are legal), ``certificates_first`` or ``certificates_only``."""
        self.ensure_one()
        return self.sudo().ksef_auth_order or "tokens_first"

    def _ksef_chain(self):
        """This company, then its parents from the closest up (``parent_ids`` without
        computing it)."""
        self.ensure_one()
        ids = [int(i) for i in (self.sudo().parent_path or "").split("/") if i]
        return self.browse([self.id, *reversed([i for i in ids if i != self.id])])

    def _ksef_responsible(self):
        """The one user who gets this company's KSeF warnings: its KSeF responsible, else its
        parent's, else its KSeF administrator with the lowest id (internal, active, allowed
        in the company; never OdooBot), else the administrator."""
        self.ensure_one()
        company = self.sudo()
        while company:
            user = company.ksef_responsible_id
            if user.active and not user.share:
                return user
            company = company.parent_id
        admins = self.env["ksef.access"]._ksef_company_admins(self)
        return admins[:1] or self.env.ref("base.user_admin")

    def _ksef_lang(self, user=None):
        """The language of texts Odoo writes for this company on its own (jobs, warnings,
        status details): the recipient's (``user``, default the company's KSeF responsible),
        else the company's partner's, else the current one."""
        self.ensure_one()
        user = user if user is not None else self._ksef_responsible()
        installed = {code for code, _name in self.env["res.lang"].get_installed()}
        for lang in (user.sudo().lang, self.sudo().partner_id.lang):
            if lang and lang in installed:
                return lang
        return self.env.lang or "en_US"

    def _ksef_in_lang(self, records, user=None):
        """``records`` in an environment whose language is :meth:`_ksef_lang`: its
        ``env._(...)`` translates into the recipient's language."""
        return records.with_context(lang=self._ksef_lang(user))

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

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None, **kwargs):
        """The company and branch pickers of the KSeF wizards (context ``ksef_company_picker``)
        offer all the user's companies, not only those active in the company switcher."""
        if self.env.context.get("ksef_company_picker") and not self.env.su:
            domain = [("id", "in", self.env.user._get_company_ids())] + list(domain or [])
            return super(ResCompany, self.sudo())._search(domain, offset, limit, order, **kwargs)
        return super()._search(domain, offset, limit, order, **kwargs)

    # ------------------------------------------------------------------
    # KSEF IP POLICY
    # ------------------------------------------------------------------

    @api.constrains("ksef_ip4_addresses", "ksef_ip4_ranges", "ksef_ip4_masks")
    def _check_ksef_ip_policy(self):
        for company in self:
            company._ksef_authorization_policy_of(company)

    def _ksef_authorization_policy(self):
        """The ``AuthorizationPolicy`` to send when authenticating a token of this company:
        its own IP lists, else those of the closest parent that has some; ``None`` when no
        policy is set."""
        self.ensure_one()
        for company in self._ksef_chain().sudo():
            if company.ksef_ip4_addresses or company.ksef_ip4_ranges or company.ksef_ip4_masks:
                return self._ksef_authorization_policy_of(company)
        return None

    @api.model
    def _ksef_authorization_policy_of(self, company):
        """Validate the IP lists of ``company``; return the policy (or ``None`` if empty)."""
        addresses, ranges, masks = [], [], []
        label = {
            "ksef_ip4_addresses": self.env._("allowed IPv4 addresses"),
            "ksef_ip4_ranges": self.env._("allowed IPv4 ranges"),
            "ksef_ip4_masks": self.env._("allowed IPv4 networks"),
        }
        for field_name, target in (
            ("ksef_ip4_addresses", addresses),
            ("ksef_ip4_ranges", ranges),
            ("ksef_ip4_masks", masks),
        ):
            entries = split_entries(company[field_name])
            if len(entries) > MAX_POLICY_ENTRIES:
                raise ValidationError(
                    self.env._(
                        "KSeF accepts at most %(max)s %(what)s; %(company)s has %(count)s.",
                        max=MAX_POLICY_ENTRIES,
                        what=label[field_name],
                        company=company.display_name,
                        count=len(entries),
                    )
                )
            for entry in entries:
                try:
                    target.append(normalize_entry(field_name, entry))
                except ValueError:
                    raise ValidationError(
                        self.env._(
                            "%(entry)s is not valid in the %(what)s of %(company)s.",
                            entry=entry,
                            what=label[field_name],
                            company=company.display_name,
                        )
                    ) from None
        policy = AuthorizationPolicy(tuple(addresses), tuple(ranges), tuple(masks))
        return policy or None
