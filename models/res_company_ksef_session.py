import hashlib
import ipaddress
import re

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..ksef.models import AuthorizationPolicy

#: KSeF accepts at most 10 entries in each list of ``AuthorizationPolicy/allowedIps``
MAX_POLICY_ENTRIES = 10


def _split(text):
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


class ResCompany(models.Model):
    _inherit = "res.company"

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

    # ------------------------------------------------------------------
    # CONSTRAINTS
    # ------------------------------------------------------------------

    @api.constrains("ksef_ip4_addresses", "ksef_ip4_ranges", "ksef_ip4_masks")
    def _check_ksef_ip_policy(self):
        for company in self:
            company._ksef_authorization_policy_of(company)

    # ------------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------------

    def _ksef_authorization_policy(self):
        """The ``AuthorizationPolicy`` to send when authenticating a token of this company:
        its own IP lists, else those of the closest parent that has some; ``None`` when no
        policy is set."""
        self.ensure_one()
        for company in (self | self.parent_ids[::-1]).sudo():
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
            entries = _split(company[field_name])
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
                    target.append(_normalize(field_name, entry))
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


def _normalize(field_name, entry):
    if field_name == "ksef_ip4_addresses":
        return str(ipaddress.IPv4Address(entry))
    if field_name == "ksef_ip4_ranges":
        first, sep, last = entry.partition("-")
        if not sep:
            raise ValueError(entry)
        first, last = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
        if first > last:
            raise ValueError(entry)
        return f"{first}-{last}"
    return str(ipaddress.IPv4Network(entry, strict=False))


def policy_key(policy):
    """A short fingerprint of a policy (``''`` for none), stored with the cached session."""
    if not policy:
        return ""
    text = repr((policy.ip4_addresses, policy.ip4_ranges, policy.ip4_masks))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
