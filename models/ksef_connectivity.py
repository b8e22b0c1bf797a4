"""The connectivity job: does each active token of each company with a KSeF jobs user still
authenticate, and what does KSeF say of it? An imported token not verified yet is verified.
As the jobs user (whose record rules decide which tokens it sees), through the session
factory (cached sessions: a daily run authenticates at most once per token)."""

import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..ksef.errors import KsefError
from .ksef_exceptions import KsefRetryLater, KsefSecretUnreadable

_logger = logging.getLogger(__name__)

CONNECTIVITY_CRON = "l10n_pl_ksef_token.ir_cron_ksef_check_connectivity"


class KsefConnectivity(models.AbstractModel):
    _name = "ksef.connectivity"
    _description = "KSeF Connectivity Check"

    @api.model
    def _cron_ksef_check_connectivity(self):
        """For each company with a KSeF jobs user, authenticate with each of its active tokens
        that user may see, and read the token's own status in KSeF."""
        retry_after = 0
        self.env["ksef.token"]._ksef_log_invalid_key("KSeF connectivity check")
        companies = self.env["res.company"].sudo().search([("ksef_job_user_id", "!=", False)])
        for company in companies:
            user = company.ksef_job_user_id
            # texts this job writes (status, connectivity message) in the company's language
            env = self.env(
                user=user.id,
                su=False,
                context={"allowed_company_ids": user.company_ids.ids, "lang": company._ksef_lang()},
            )
            try:
                # the user's record rules decide which tokens the job sees
                tokens = env["ksef.token"].search(
                    [
                        ("company_id", "=", company.id),
                        ("state", "in", ("active", "unverified")),
                        ("has_secret", "=", True),
                    ]
                )
            except AccessError:
                _logger.info("KSeF jobs user %s may not read tokens of %s", user.id, company.id)
                continue
            try:
                for token in tokens:
                    env["ksef.connectivity"]._ksef_check_connectivity(token, user)
            except KsefRetryLater as e:
                retry_after = max(retry_after, e.retry_after)
        if retry_after:
            self.env["ksef.session.service"]._ksef_reschedule(CONNECTIVITY_CRON, retry_after)

    @api.model
    def _ksef_check_connectivity(self, token, user=None):
        """Authenticate with ``token`` (cached session) and read its status in KSeF; an
        unverified token is verified. Returns whether it works.

        :raises KsefRetryLater: KSeF asked to wait; other failures are recorded on the token
        """
        token.ensure_one()
        token_sudo = token.sudo()
        now = fields.Datetime.now()
        try:
            self.env["ksef.access"]._ksef_check_token_admin(token, user)
        except AccessError as e:
            return self._ksef_record_failure(token_sudo, e, now)
        if token_sudo.state == "unverified":
            self.env["ksef.token.sync"]._ksef_verify_unverified(token_sudo)
            ok = token_sudo.state == "active"
            message = (
                self.env._("Authenticated; KSeF reports the token as %(status)s.", status="Active")
                if ok
                else (token_sudo.status_details or "")[:500]
            )
            token_sudo.write(
                {
                    "connectivity_check_date": now,
                    "connectivity_ok": ok,
                    "connectivity_message": message,
                }
            )
            return ok
        try:
            with self.env["ksef.session.service"].get_client_for_token(token, user=user) as session:
                info = session.run(session.client.get_token, token_sudo.reference_number)
        except KsefRetryLater:
            raise
        except (KsefError, KsefSecretUnreadable, UserError, AccessError) as e:
            return self._ksef_record_failure(token_sudo, e, now)
        token_sudo._ksef_apply_info(info)
        token_sudo.write(
            {
                "connectivity_check_date": now,
                "connectivity_ok": info.status == "Active",
                "connectivity_message": self.env._(
                    "Authenticated; KSeF reports the token as %(status)s.", status=info.status
                ),
            }
        )
        return info.status == "Active"

    @api.model
    def _ksef_record_failure(self, token_sudo, error, now):
        token_sudo.write(
            {
                "connectivity_check_date": now,
                "connectivity_ok": False,
                "connectivity_message": self.env["ksef.messages"]._ksef_message(error)[:500],
            }
        )
        _logger.info(
            "KSeF connectivity check of token %s failed (%s)",
            token_sudo.reference_number,
            type(error).__name__,
        )
        return False
