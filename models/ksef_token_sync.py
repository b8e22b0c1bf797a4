"""Sync of the token registry with KSeF.

For each context (environment, company) that holds tokens: verify imported tokens KSeF could
not be asked about, read the context's token inventory (pages of 100) with an administrator
session of the context, update status and last use, mark tokens revoked or failed in KSeF,
list unknown tokens as "found in KSeF", and revoke tokens of unfinished generations. Without
an administrator token, each token with a secret reads its own status. Sessions come from the
session factory (cached: a second sync in a row authenticates nothing); "not now" from KSeF
reschedules the cron instead of blocking a worker.
"""

import logging

from odoo import api, models
from odoo.exceptions import UserError

from ..ksef.errors import KsefApiError, KsefAuthFailed, KsefError
from .ksef_exceptions import KsefRetryLater
from .ksef_pending_generation import MARKER_PREFIX
from .ksef_token import KSEF_SOURCED_CONTEXT

_logger = logging.getLogger(__name__)

SYNC_CRON = "l10n_pl_ksef_token.ir_cron_ksef_token_sync"
#: the counts a sync reports
COUNTS = ("updated", "found", "revoked_orphans")


class KsefTokenSync(models.AbstractModel):
    _name = "ksef.token.sync"
    _description = "KSeF Token Sync"

    # ------------------------------------------------------------------
    # ENTRY POINTS
    # ------------------------------------------------------------------

    @api.model
    def _ksef_sync_now(self):
        """The Sync button: sync the contexts of all the user's companies; a notification."""
        companies = self.env.user.company_ids
        self.env["ksef.access"]._ksef_check_admin(companies)
        Token = self.env["ksef.token"]
        failures = []
        try:
            totals = self.sudo()._ksef_sync_all(companies, failures=failures)
        except KsefRetryLater as e:
            self.env["ksef.session.service"]._ksef_reschedule(SYNC_CRON, e.retry_after)
            return Token._ksef_notify(
                self.env._("%(reason)s The sync continues automatically then.", reason=str(e)),
                "warning",
            )
        if failures:
            return Token._ksef_notify(
                self.env._(
                    "KSeF could not be synced for %(companies)s: KSeF did not answer or refused "
                    "(the server log says why). Nothing was changed there; try again later, or "
                    "check the KSeF environment and the tokens of these companies.",
                    companies=", ".join(sorted(set(failures))),
                ),
                "warning",
            )
        return Token._ksef_notify(
            self.env._(
                "Synced with KSeF: %(updated)s updated, %(found)s found in KSeF, %(orphans)s "
                "unfinished generations revoked.",
                updated=totals["updated"],
                found=totals["found"],
                orphans=totals["revoked_orphans"],
            ),
            "success",
        )

    @api.model
    def _cron_ksef_sync(self):
        self.env["ksef.token"]._ksef_log_invalid_key("KSeF token sync")
        self.env["ksef.pending.generation"]._ksef_recover()
        try:
            self._ksef_sync_all()
        except KsefRetryLater as e:
            self.env["ksef.session.service"]._ksef_reschedule(SYNC_CRON, e.retry_after)
        self.env["ksef.certificate.sync"]._cron_ksef_certificate_sync()

    @api.model
    def _ksef_sync_all(self, companies=None, failures=None):
        """Sync the contexts of ``companies``; returns the totals. The names of the companies
        whose sync failed are appended to ``failures`` (a list) when given.

        :raises KsefRetryLater: KSeF asked to wait (the caller reschedules)
        """
        totals = dict.fromkeys(COUNTS, 0)
        for environment, company in self._ksef_sync_contexts(companies):
            try:
                self.env["ksef.token"]._ksef_check_environment_allowed(environment)
                # what the sync writes (status details, chatter) in the company's language
                counts = company._ksef_in_lang(self)._ksef_sync_context(environment, company)
            except (KsefError, KsefRetryLater, UserError) as e:
                if isinstance(e, KsefRetryLater) and e.kind == KsefRetryLater.RATE_LIMIT:
                    raise  # KSeF's limit is for the whole sync: it goes on later
                _logger.warning(
                    "KSeF sync of %s (%s) failed: %s", company.id, environment, type(e).__name__
                )
                if failures is not None:
                    failures.append(company.display_name)
                continue
            for key, value in counts.items():
                totals[key] += value
        return totals

    @api.model
    def _ksef_sync_contexts(self, companies=None):
        """``(environment, company)`` pairs that hold tokens (optionally within ``companies``)."""
        domain = [("company_id", "in", companies.ids)] if companies is not None else []
        groups = (
            self.env["ksef.token"]
            .sudo()
            .with_context(active_test=False)
            ._read_group(domain, ["environment", "company_id"])
        )
        return [(environment, company) for environment, company in groups]

    # ------------------------------------------------------------------
    # ONE CONTEXT
    # ------------------------------------------------------------------

    @api.model
    def _ksef_sync_context(self, environment, company):
        """Sync one context; returns the :data:`COUNTS`."""
        Token = self.env["ksef.token"].sudo().with_context(active_test=False)
        context_tokens = Token.search(
            [("environment", "=", environment), ("company_id", "=", company.id)]
        )
        counts = dict.fromkeys(COUNTS, 0)
        # imported tokens KSeF could not be asked about: only their own secret proves them
        counts["updated"] += self._ksef_verify_unverified(
            context_tokens.filtered(lambda t: t.state == "unverified")
        )
        session = self.env["ksef.session.service"]._ksef_context_session(environment, company)
        if not session:
            counts["updated"] += self._ksef_sync_self(context_tokens)
            return counts
        with session:
            infos = session.run(lambda jwt: list(session.client.iter_tokens(jwt, page_size=100)))
            known = {t.reference_number: t for t in context_tokens}
            strangers = []
            for info in infos:
                token = known.get(info.reference_number)
                if token and token.state == "unverified":
                    continue  # listed is not proven: its secret may be wrong
                if token:
                    token._ksef_apply_info(info)
                    counts["updated"] += 1
                elif info.status not in ("Revoked", "Failed"):
                    strangers.append(info)
            for info in strangers:
                if self._ksef_reconcile_generation(session, info):
                    counts["revoked_orphans"] += 1
                else:
                    self._ksef_create_found(environment, company, info)
                    counts["found"] += 1
        return counts

    @api.model
    def _ksef_sync_self(self, tokens):
        """No administrator token: each token with a secret reads its own status."""
        updated = 0
        service = self.env["ksef.session.service"]
        for token in tokens.filtered(
            lambda t: t.has_secret and t.state in ("pending", "active", "revoking")
        ):
            try:
                with service._ksef_own_session(token) as session:
                    info = session.run(session.client.get_token, token.reference_number)
            except KsefRetryLater:
                raise
            except KsefError as e:
                # a refused token was marked by the factory; say why on the others
                # (an undecryptable secret is the server's key problem: the context fails)
                if token.state not in ("failed", "revoked"):
                    token.status_details = self.env["ksef.messages"]._ksef_message(e)
                continue
            token._ksef_apply_info(info)
            updated += 1
        return updated

    @api.model
    def _ksef_verify_unverified(self, tokens):
        """Verify imported tokens KSeF could not be asked about: authenticate with each one's
        own secret in its context and read its metadata. Active on success; failed with the
        reason when KSeF refuses; still not verified when KSeF cannot answer now.

        :returns: how many were verified or refused
        :raises KsefRetryLater: KSeF asked to wait (429: the caller reschedules)
        """
        done = 0
        Messages = self.env["ksef.messages"]
        service = self.env["ksef.session.service"]
        for token in tokens.sudo().filtered(lambda t: t.state == "unverified"):
            try:
                with service._ksef_own_session(token) as session:
                    info = session.run(session.client.get_token, token.reference_number)
            except KsefRetryLater as e:
                if e.kind == KsefRetryLater.RATE_LIMIT:
                    raise
                token.status_details = str(e)
                continue
            except KsefAuthFailed:
                done += 1  # refused: the factory marked it (failed, secret wiped)
                continue
            except KsefApiError as e:
                token._ksef_refuse_unverified(Messages._ksef_message(e))
                done += 1
                continue
            if info.status == "Pending":
                continue
            if info.status != "Active":
                token._ksef_refuse_unverified(
                    self.env._("KSeF reports the token as %(status)s.", status=info.status)
                )
                done += 1
                continue
            token.with_context(**{KSEF_SOURCED_CONTEXT: True}).write(
                dict(token._ksef_values_from_info(info, new=True), state="active")
            )
            token._ksef_post(self.env._("KSeF verified the imported token: it is active."))
            done += 1
        return done

    # ------------------------------------------------------------------
    # TOKENS ODOO DID NOT KNOW
    # ------------------------------------------------------------------

    @api.model
    def _ksef_reconcile_generation(self, session, info):
        """A token carrying the marker of an unfinished Odoo generation is an orphan: revoke it
        (its secret is not in Odoo) and close the journal row."""
        description = info.description or ""
        if f"[{MARKER_PREFIX}" not in description:
            return False
        key = description.rsplit(f"[{MARKER_PREFIX}", 1)[1].rstrip("]")
        Journal = self.env["ksef.pending.generation"]
        rows = Journal._ksef_open_rows(min_age=None, keys=[key])
        if not rows:
            return False
        row = dict(rows[0], reference_number=info.reference_number)
        return Journal._ksef_revoke_by_marker(session, row) == "revoked"

    @api.model
    def _ksef_create_found(self, environment, company, info):
        context = info.context_identifier
        Token = self.env["ksef.token"].sudo()
        return Token.create(
            dict(
                Token._ksef_values_from_info(info, new=True),
                name=(info.description or info.reference_number)[:256].ljust(5, "."),
                company_id=company.id,
                scope="branch" if context and context.type == "InternalId" else "company",
                context_type=context.type if context else "Nip",
                context_value=context.value if context else company.ksef_nip,
                environment=environment,
                token_type="custom",
                reference_number=info.reference_number,
                origin="found",
            )
        )
