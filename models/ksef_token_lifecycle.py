"""Token lifecycle after generation: sync with KSeF, revoke, share.

* sync: read each context's token inventory (pages of 100), update status and last use, mark
  tokens revoked or failed in KSeF, list unknown tokens as "found in KSeF", and reconcile
  unfinished generations; a 429 reschedules the cron instead of blocking a worker;
* revoke: with an administrator token of the context, else with the token itself (allowed
  since API 2.4.0); Revoking -> Revoked; the secret is wiped; failures reported per token;
* share: assign tokens to users and companies within what the token's scope allows.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef import permissions as ksef_perms
from ..ksef.errors import (
    KsefApiError,
    KsefAuthFailed,
    KsefAuthTimeout,
    KsefError,
    KsefRateLimited,
    KsefServerError,
    KsefTransportError,
)
from .ksef_pending_generation import MARKER_PREFIX
from .ksef_token import ksef_identity_checked

_logger = logging.getLogger(__name__)

SYNC_CRON = "l10n_pl_ksef_token.ir_cron_ksef_token_sync"
REVOCATION_WAIT = 10.0


class KsefToken(models.Model):
    _inherit = "ksef.token"

    last_sync_date = fields.Datetime(string="Last Sync", readonly=True)

    # ------------------------------------------------------------------
    # SYNC
    # ------------------------------------------------------------------

    @api.model
    def _ksef_sync_contexts(self, companies=None):
        """``(environment, company)`` pairs that hold tokens (optionally within ``companies``)."""
        domain = [("company_id", "in", companies.ids)] if companies is not None else []
        groups = (
            self.sudo()
            .with_context(active_test=False)
            ._read_group(domain, ["environment", "company_id"])
        )
        return [(environment, company) for environment, company in groups]

    @api.model
    def _ksef_sync_context(self, environment, company):
        """Sync one context; returns ``{'updated', 'found', 'revoked_orphans'}`` counts.

        :raises KsefRateLimited: KSeF asked to wait (the caller reschedules)
        :raises UserError: Odoo holds no token able to read the context's inventory
        """
        # imported tokens KSeF could not be asked about: only their own secret proves them
        unverified = (
            self.sudo()
            .with_context(active_test=False)
            .search(
                [
                    ("environment", "=", environment),
                    ("company_id", "=", company.id),
                    ("state", "=", "unverified"),
                ]
            )
        )
        verified = unverified._ksef_verify_unverified()
        session = self._ksef_admin_session(environment, company)
        if not session:
            counts = self._ksef_sync_self(environment, company)
            counts["updated"] += verified
            return counts
        client, access_token = session
        Token = self.sudo().with_context(active_test=False)
        known = {
            t.reference_number: t
            for t in Token.search(
                [("environment", "=", environment), ("company_id", "=", company.id)]
            )
        }
        counts = {"updated": verified, "found": 0, "revoked_orphans": 0}
        strangers = []
        for info in client.iter_tokens(access_token, page_size=100):
            token = known.get(info.reference_number)
            if token and token.state == "unverified":
                continue  # listed is not proven: its secret may be wrong
            if token:
                token._ksef_apply_info(info)
                counts["updated"] += 1
            elif info.status not in ("Revoked", "Failed"):
                strangers.append(info)
        for info in strangers:
            if self._ksef_reconcile_generation(client, access_token, environment, info):
                counts["revoked_orphans"] += 1
            else:
                self._ksef_create_found(environment, company, info)
                counts["found"] += 1
        return counts

    def _ksef_sync_self(self, environment, company):
        """No administrator token: each token with a secret reads its own status."""
        counts = {"updated": 0, "found": 0, "revoked_orphans": 0}
        tokens = self.sudo().search(
            [
                ("environment", "=", environment),
                ("company_id", "=", company.id),
                ("has_secret", "=", True),
                ("state", "in", ("pending", "active", "revoking")),
            ]
        )
        for token in tokens:
            try:
                client, access_token = token._ksef_open_session()
            except KsefRateLimited:
                raise
            except KsefError as e:
                token.status_details = self._ksef_error_message(e)
                if getattr(e, "token_unusable", False):
                    token.state = "failed"
                continue
            token._ksef_apply_info(client.get_token(access_token, token.reference_number))
            counts["updated"] += 1
        return counts

    @api.model
    def _ksef_type_of(self, permission_names):
        """The token type (A/W/P/custom) that KSeF's permission list means."""
        names = set(permission_names or ())
        for token_type, preset in ksef_perms.TOKEN_TYPE_PERMISSIONS.items():
            if names == set(preset):
                return token_type
        return "A" if "CredentialsManage" in names else "custom"

    @api.model
    def _ksef_verified_values(self, info):
        """``ksef.token`` values from KSeF's own metadata of a token (import verification)."""
        perms = self.env["ksef.permission"]._by_names(info.requested_permissions or ())
        return {
            "state": self._ksef_state_of(info.status),
            "token_type": self._ksef_type_of(info.requested_permissions),
            "permission_ids": [(6, 0, perms.ids)],
            "date_created": self._ksef_naive(info.date_created),
            "last_use_date": self._ksef_naive(info.last_use_date),
            "last_sync_date": fields.Datetime.now(),
            "author_identifier": info.author_identifier and info.author_identifier.value,
            "status_details": "\n".join(info.status_details or ()) or False,
        }

    def _ksef_verify_unverified(self):
        """Verify imported tokens KSeF could not be asked about: authenticate with each one's
        own secret in its context and read its metadata. Active on success; failed with the
        reason when KSeF refuses; still not verified when KSeF cannot answer now.

        :returns: how many were verified or refused
        :raises KsefRateLimited: KSeF asked to wait (the caller reschedules)
        """
        done = 0
        for token in self.sudo().filtered(lambda t: t.state == "unverified"):
            try:
                client, access_token = token._ksef_open_session()
                try:
                    info = client.get_token(access_token, token.reference_number)
                finally:
                    client.close()
            except KsefRateLimited:
                raise
            except (KsefTransportError, KsefServerError, KsefAuthTimeout) as e:
                token.status_details = self._ksef_error_message(e)
                continue
            except KsefAuthFailed as e:
                if e.retryable:
                    token.status_details = self._ksef_error_message(e)
                    continue
                token._ksef_refuse_unverified(self._ksef_error_message(e))
                done += 1
                continue
            except KsefApiError as e:
                token._ksef_refuse_unverified(self._ksef_error_message(e))
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
            token.write(self._ksef_verified_values(info))
            token._ksef_post(self.env._("KSeF verified the imported token: it is active."))
            done += 1
        return done

    def _ksef_refuse_unverified(self, reason):
        self.ensure_one()
        self.write({"state": "failed", "status_details": reason})
        if self.has_secret:
            self._ksef_wipe_secret()
        self._ksef_post(
            self.env._(
                "KSeF refused the imported token when verifying it: %(reason)s Archive it and "
                "import a valid token.",
                reason=reason,
            )
        )

    def _ksef_apply_info(self, info):
        self.ensure_one()
        state = self._ksef_state_of(info.status)
        values = {
            "last_sync_date": fields.Datetime.now(),
            "last_use_date": self._ksef_naive(info.last_use_date),
            "status_details": "\n".join(info.status_details or ()) or False,
        }
        if state != self.state:
            values["state"] = state
        if info.requested_permissions:
            perms = self.env["ksef.permission"]._by_names(info.requested_permissions)
            if set(perms.ids) != set(self.permission_ids.ids):
                values["permission_ids"] = [(6, 0, perms.ids)]
        self.write(values)
        if state in ("revoked", "failed") and self.has_secret:
            self.sudo()._ksef_wipe_secret()

    @api.model
    def _ksef_reconcile_generation(self, client, access_token, environment, info):
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
        return Journal._ksef_revoke_by_marker(client, access_token, row) == "revoked"

    @api.model
    def _ksef_create_found(self, environment, company, info):
        context = info.context_identifier
        return self.sudo().create(
            {
                "name": (info.description or info.reference_number)[:256].ljust(5, "."),
                "company_id": company.id,
                "scope": "branch" if context and context.type == "InternalId" else "company",
                "context_type": context.type if context else "Nip",
                "context_value": context.value if context else company.ksef_nip,
                "environment": environment,
                "token_type": "custom",
                "permission_ids": [
                    (6, 0, self.env["ksef.permission"]._by_names(info.requested_permissions).ids)
                ],
                "reference_number": info.reference_number,
                "state": self._ksef_state_of(info.status),
                "origin": "found",
                "date_created": self._ksef_naive(info.date_created),
                "last_use_date": self._ksef_naive(info.last_use_date),
                "last_sync_date": fields.Datetime.now(),
                "author_identifier": info.author_identifier and info.author_identifier.value,
            }
        )

    @api.model
    def action_ksef_sync(self, *_selected_ids):
        """List and form header button (the web client passes the selected ids, if any:
        ignored): sync the contexts of all the user's companies now."""
        companies = self.env.user.company_ids
        self._ksef_check_admin(companies)
        try:
            failures = []
            totals = self.sudo()._ksef_sync_all(companies, failures=failures)
        except KsefRateLimited as e:
            self._ksef_reschedule_sync(e.retry_after)
            message = self.env._(
                "KSeF asked to slow down; the sync continues automatically in %(seconds)s "
                "seconds.",
                seconds=e.retry_after or 60,
            )
            return self._ksef_notify(message, "warning")
        if failures:
            return self._ksef_notify(
                self.env._(
                    "KSeF could not be synced for %(companies)s: KSeF did not answer or refused "
                    "(the server log says why). Nothing was changed there; try again later, or "
                    "check the KSeF environment and the tokens of these companies.",
                    companies=", ".join(sorted(set(failures))),
                ),
                "warning",
            )
        return self._ksef_notify(
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
    def _ksef_sync_all(self, companies=None, failures=None):
        """Sync the contexts of ``companies``; returns the totals. The names of the companies
        whose sync failed are appended to ``failures`` (a list) when given."""
        totals = {"updated": 0, "found": 0, "revoked_orphans": 0}
        for environment, company in self._ksef_sync_contexts(companies):
            try:
                self._ksef_check_environment_allowed(environment)
                # what the sync writes (status details, chatter) in the company's language
                counts = company._ksef_in_lang(self)._ksef_sync_context(environment, company)
            except KsefRateLimited:
                raise
            except (KsefError, UserError) as e:
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
    def _cron_ksef_sync(self):
        self._ksef_log_invalid_key("KSeF token sync")
        self.env["ksef.pending.generation"]._ksef_recover()
        try:
            self._ksef_sync_all()
        except KsefRateLimited as e:
            self._ksef_reschedule_sync(e.retry_after)

    @api.model
    def _ksef_reschedule_sync(self, retry_after):
        seconds = max(int(retry_after or 60), 1)
        self.env.ref(SYNC_CRON).sudo()._trigger(
            at=fields.Datetime.now() + timedelta(seconds=seconds)
        )
        _logger.info("KSeF rate limit: token sync rescheduled in %s s", seconds)

    def _ksef_notify(self, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": kind, "sticky": kind != "success"},
        }

    # ------------------------------------------------------------------
    # REVOKE
    # ------------------------------------------------------------------

    def _ksef_revoke(self):
        """Revoke these tokens in KSeF; returns ``{token: error message or False}``."""
        self._ksef_check_admin(self.company_id)
        results = {}
        sessions = {}
        for token in self.sudo():
            try:
                with self.env.cr.savepoint():
                    token._ksef_revoke_one(sessions)
                results[token] = False
            except (KsefError, UserError) as e:
                results[token] = (
                    self._ksef_error_message(e) if isinstance(e, KsefError) else e.args[0]
                )
        return results

    def _ksef_revoke_one(self, sessions):
        self.ensure_one()
        if self.state in ("revoked", "failed"):
            if self.has_secret:
                self._ksef_wipe_secret()
            self.revoked_from_odoo = True
            return
        self._ksef_check_environment_allowed()
        key = (self.environment, self.company_id.id)
        if key not in sessions:
            sessions[key] = self._ksef_admin_session(self.environment, self.company_id)
        session = sessions[key]
        if not session and self.has_secret:
            session = self._ksef_open_session()
        if not session:
            raise UserError(
                self.env._(
                    "Odoo holds neither this token's secret nor an administrator token of its "
                    "context: revoke it in the KSeF taxpayer application."
                )
            )
        client, access_token = session
        client.revoke_token(access_token, self.reference_number)
        state = "revoking"
        try:
            client.wait_for_token_status(
                access_token,
                self.reference_number,
                ("Revoked",),
                poll_interval=1.0,
                timeout=REVOCATION_WAIT,
            )
            state = "revoked"
        except KsefError:
            _logger.info("KSeF token %s still revoking; the sync follows it", self.reference_number)
        self.write({"state": state, "revoked_from_odoo": True})
        self._ksef_wipe_secret()
        self._ksef_post(self.env._("Token revoked in KSeF by %(user)s.", user=self.env.user.name))

    @api.model
    @ksef_identity_checked
    def action_ksef_open_revoke(self):
        """Server action (list, Actions menu): confirm, then revoke the selected tokens."""
        tokens = self.browse(self.env.context.get("active_ids") or [])
        tokens._ksef_check_admin(tokens.company_id)
        return self.env["ksef.token.revoke"].action_open(tokens)

    @api.model
    def action_ksef_open_share(self):
        tokens = self.browse(self.env.context.get("active_ids") or [])
        tokens._ksef_check_admin(tokens.company_id)
        return self.env["ksef.token.share"].action_open(tokens)

    def action_ksef_revoke_form(self):
        """Token form button: the revoke wizard for this token (password asked first)."""
        return self.with_context(
            active_ids=self.ids, active_model=self._name
        ).action_ksef_open_revoke()

    def action_ksef_share_form(self):
        """Token form button: the share wizard for this token."""
        return self.with_context(
            active_ids=self.ids, active_model=self._name
        ).action_ksef_open_share()

    def action_ksef_test_connection(self):
        """Token form button: authenticate with this token in KSeF and say how it went."""
        from .ksef_session_service import KsefRetryLater

        self.ensure_one()
        self._ksef_check_admin(self.company_id)
        try:
            with self.env["ksef.session.service"].get_client_for_token(self):
                pass
        except KsefRetryLater as e:
            return self._ksef_notify(
                self.env._(
                    "KSeF cannot be asked now (%(reason)s). Try again in %(seconds)s seconds.",
                    reason=str(e),
                    seconds=e.retry_after,
                ),
                "warning",
            )
        except (KsefError, UserError) as e:
            message = self._ksef_error_message(e) if isinstance(e, KsefError) else e.args[0]
            return self._ksef_notify(
                self.env._(
                    "KSeF did not accept the token %(token)s: %(reason)s",
                    token=self.display_name,
                    reason=message,
                ),
                "danger",
            )
        return self._ksef_notify(
            self.env._(
                "Connection works: KSeF (environment %(environment)s) accepted the token "
                "%(token)s.",
                environment=dict(self._fields["environment"]._description_selection(self.env))[
                    self.environment
                ],
                token=self.display_name,
            ),
            "success",
        )

    # ------------------------------------------------------------------
    # SHARE
    # ------------------------------------------------------------------

    def _ksef_share(self, users, companies, unshare=False):
        """Assign (or unassign) these tokens to users and companies; raises UserError naming
        what the scope does not allow."""
        self._ksef_check_admin(self.company_id | companies)
        for token in self.sudo():
            if not unshare:
                token._ksef_check_share(users, companies)
            command = 3 if unshare else 4
            token.write(
                {
                    "user_ids": [(command, u.id) for u in users],
                    "assigned_company_ids": [(command, c.id) for c in companies],
                }
            )
            names = ", ".join(users.mapped("name") + companies.mapped("name"))
            token._ksef_post(
                self.env._(
                    "Unassigned from %(subjects)s by %(user)s.",
                    subjects=names,
                    user=self.env.user.name,
                )
                if unshare
                else self.env._(
                    "Assigned to %(subjects)s by %(user)s.", subjects=names, user=self.env.user.name
                )
            )

    def _ksef_check_share(self, users, companies):
        self.ensure_one()
        if self.scope == "user" and (companies or users - self.operator_id):
            raise UserError(
                self.env._(
                    "%(token)s is an operator token of %(operator)s: it cannot be shared.",
                    token=self.display_name,
                    operator=self.operator_id.name,
                )
            )
        if self.state not in ("pending", "active"):
            raise UserError(
                self.env._("%(token)s no longer works in KSeF.", token=self.display_name)
            )
        if self.scope == "branch":
            outside = companies.filtered(
                lambda c: c != self.company_id and self.company_id not in c.parent_ids
            )
        else:
            outside = companies.filtered(lambda c: c.ksef_nip != self.company_id.ksef_nip)
        if outside:
            raise UserError(
                self.env._(
                    "%(token)s belongs to %(context)s and cannot be shared with %(companies)s.",
                    token=self.display_name,
                    context=self.context_value,
                    companies=", ".join(outside.mapped("name")),
                )
            )
        if self.token_type == "A":
            # an administrator token lets its holder manage every token of the context
            not_admins = users.filtered(
                lambda u: not u.has_group("l10n_pl_ksef_token.group_ksef_admin")
            )
            if not_admins:
                raise UserError(
                    self.env._(
                        "%(token)s is an administrator token (type A); %(users)s are not KSeF "
                        "administrators, so it cannot be shared with them. Share a W or P token "
                        "instead, or make them KSeF administrators first.",
                        token=self.display_name,
                        users=", ".join(not_admins.mapped("name")),
                    )
                )
        strangers = users.filtered(lambda u: self.company_id not in u.company_ids)
        if strangers:
            raise UserError(
                self.env._(
                    "%(users)s have no access to %(company)s, the company of %(token)s.",
                    users=", ".join(strangers.mapped("name")),
                    company=self.company_id.name,
                    token=self.display_name,
                )
            )
