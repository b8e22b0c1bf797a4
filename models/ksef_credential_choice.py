"""Which credentials may sign in for a request, and in which order (the session factory's
one candidate order).

Tokens: the acting user's own operator tokens for the company (or branch), then the branch's,
then the company's up the parents; within each level the least privileged first. KSeF
Authentication certificates: the user's own, then the company's. The company's sign-in order
puts one kind before the other (or uses certificates only). ``ksef.access`` says, before
anything is asked of KSeF, why a candidate may not be used.
"""

from odoo import api, models

from .ksef_certificate import CertificateCredential
from .ksef_exceptions import KsefNoUsableToken


class KsefCredentialChoice(models.AbstractModel):
    _name = "ksef.credential.choice"
    _description = "KSeF Credential Choice"

    @api.model
    def _ksef_least_privileged(self, tokens):
        """``tokens`` with the fewest KSeF permissions first (a P token before an A token)."""
        return tokens.sorted(lambda t: (len(t.permission_ids), t.id))

    @api.model
    def _ksef_candidates(self, company, user):
        """Candidate tokens in order of preference: the user's own operator tokens for the
        company (or branch), then the branch's, then the company's (up the parents). Within
        each level the least privileged first. Tokens not yet verified with KSeF are never
        candidates."""
        chain = company._ksef_chain()
        tokens = (
            self.env["ksef.token"]
            .sudo()
            .search_fetch(
                [("company_id", "in", chain.ids), ("state", "!=", "unverified")],
                [
                    "company_id",
                    "scope",
                    "operator_id",
                    "state",
                    "active",
                    "expiry_date",
                    "environment",
                ],
                order="id",
            )
        )

        def by_level(records):
            ordered = self._ksef_least_privileged(records)
            return ordered.sorted(lambda t: chain.ids.index(t.company_id.id))

        own = by_level(tokens.filtered(lambda t: t.scope == "user" and t.operator_id == user))
        branch = self._ksef_least_privileged(
            tokens.filtered(lambda t: t.scope == "branch" and t.company_id == company)
        )
        rest = by_level(tokens.filtered(lambda t: t.scope in ("branch", "company")) - branch)
        return (own | branch | rest).sudo(False).with_env(self.env)

    @api.model
    def _ksef_ordered_candidates(self, company, user, exclude=None):
        """Every credential that may sign in for ``user`` acting for ``company``, in the
        company's sign-in order: tokens (:meth:`_ksef_candidates`) and KSeF certificates
        (:meth:`_ksef_certificate_candidates`)."""
        excluded = set(exclude or ())
        tokens = [t for t in self._ksef_candidates(company, user) if t not in excluded]
        certificates = [
            c
            for c in self._ksef_certificate_candidates(company, user)
            if c.certificate not in excluded
        ]
        order = company._ksef_auth_order()
        if order == "certificates_only":
            return certificates
        if order == "certificates_first":
            return certificates + tokens
        return tokens + certificates

    @api.model
    def _ksef_problems_function(self, company, scope, user):
        """``problems_of(credential)``: what ``ksef.access`` says before signing in."""
        access = self.env["ksef.access"]

        def problems_of(credential):
            if isinstance(credential, CertificateCredential):
                return access._ksef_certificate_problems(
                    credential.certificate, scope, user=user, company=company
                )
            return access._ksef_token_problems(credential, scope, user=user, company=company)

        return problems_of

    @api.model
    def _ksef_plan(self, company, scope, user=None):
        """Which credential the next :meth:`get_client` for ``scope`` would try first, without
        signing in (the "Prepare for the token cut-off" view): the record, or an empty one."""
        user = (user or self.env.user).sudo(False)
        problems_of = self._ksef_problems_function(company, scope, user)
        for credential in self._ksef_ordered_candidates(company, user):
            if not problems_of(credential):
                return self._ksef_record_of(credential)
        return self.env["ksef.token"]

    @api.model
    def _ksef_certificate_candidates(self, company, user):
        """The KSeF Authentication certificates that may sign in to ``company``'s context:
        the user's own operator certificates, then the company's (up the parents), the
        newest first; each as a :class:`CertificateCredential` of ``company``."""
        if not company.sudo().ksef_nip:
            return []  # no KSeF context for a certificate to sign in to
        chain = company._ksef_chain()
        certificates = (
            self.env["ksef.certificate"]
            .sudo()
            .search(
                [
                    ("company_id", "in", chain.ids),
                    ("certificate_type", "=", "Authentication"),
                    ("state", "!=", "failed"),
                    ("environment", "=", chain[-1:].ksef_environment or "test"),
                ],
                order="valid_to desc, id desc",
            )
        )
        own = certificates.filtered(lambda c: c.scope == "user" and c.operator_id == user)
        rest = certificates.filtered(lambda c: c.scope == "company")
        rest = rest.sorted(lambda c: chain.ids.index(c.company_id.id))
        return [CertificateCredential(c, company) for c in own | rest]

    @api.model
    def _ksef_record_of(self, credential):
        return (
            credential.certificate if isinstance(credential, CertificateCredential) else credential
        )

    @api.model
    def _ksef_no_usable_token(self, company, scope, user, problems):
        label = self.env["ksef.access"]._ksef_operation_label(scope)
        chain = company | company.sudo().parent_ids
        unverified = (
            self.env["ksef.token"]
            .sudo()
            .search_count([("company_id", "in", chain.ids), ("state", "=", "unverified")])
        )
        if not problems and unverified:
            return KsefNoUsableToken(
                self.env._(
                    "%(user)s cannot %(operation)s for %(company)s yet: its KSeF tokens are "
                    "not verified with KSeF yet (KSeF could not be reached when they were "
                    "imported). The next sync verifies them; run Sync with KSeF from the token "
                    "list to do it now.",
                    user=user.name,
                    operation=label,
                    company=company.name,
                )
            )
        if not problems:
            return KsefNoUsableToken(
                self.env._(
                    "%(user)s cannot %(operation)s for %(company)s: no KSeF token of this "
                    "company is registered in Odoo.",
                    user=user.name,
                    operation=label,
                    company=company.name,
                )
            )
        lines = []
        for token, token_problems in problems.items():
            lines.append(f"{token.sudo().display_name}:")
            lines.extend(f"  - {p}" for p in token_problems)
        return KsefNoUsableToken(
            self.env._(
                "%(user)s cannot %(operation)s for %(company)s: no KSeF token may be used.\n"
                "%(problems)s",
                user=user.name,
                operation=label,
                company=company.name,
                problems="\n".join(lines),
            ),
            {token.id: token_problems for token, token_problems in problems.items()},
        )
