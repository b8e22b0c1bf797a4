import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..ksef.errors import KsefAuthFailed, KsefError, KsefRateLimited
from . import secret_vault
from .ksef_session_service import KsefRetryLater
from .ksef_token import KSEF_STATUS_TO_STATE

_logger = logging.getLogger(__name__)


class KsefToken(models.Model):
    _inherit = "ksef.token"

    connectivity_check_date = fields.Datetime(
        string="Last Connectivity Check", readonly=True, copy=False
    )
    connectivity_ok = fields.Boolean(
        string="Connectivity OK",
        readonly=True,
        copy=False,
        help="Whether the last connectivity check could authenticate with the token in KSeF.",
    )
    connectivity_message = fields.Char(readonly=True, copy=False)

    # ------------------------------------------------------------------
    # CONNECTIVITY CHECK JOB
    # ------------------------------------------------------------------

    @api.model
    def _cron_ksef_check_connectivity(self):
        """Reference job: for each company with a KSeF jobs user, authenticate with each of its
        active tokens that user may see, and read the token's own status in KSeF."""
        retry_after = 0
        problem = secret_vault.key_problem()
        if problem and problem[0] == "invalid":
            _logger.error(
                "KSeF connectivity check: the KSeF token encryption key is invalid (%s); "
                "tokens whose secret cannot be decrypted are skipped. Configure a valid "
                "ksef_token_key (32 bytes of URL-safe base64).",
                problem[1],
            )
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
                    token._ksef_check_connectivity(user)
            except KsefRetryLater as e:
                retry_after = max(retry_after, e.retry_after)
        if retry_after:
            self.env["ksef.session.service"]._ksef_reschedule(
                "l10n_pl_ksef_token.ir_cron_ksef_check_connectivity", retry_after
            )

    def _ksef_check_connectivity(self, user=None):
        """Authenticate with this token (cached session) and read its status in KSeF.

        :raises KsefRetryLater: KSeF asked to wait; other failures are recorded on the token
        """
        self.ensure_one()
        service = self.env["ksef.session.service"]
        now = fields.Datetime.now()
        token_sudo = self.sudo()
        if token_sudo.state == "unverified":
            return self._ksef_check_unverified(user)
        try:
            with service.get_client_for_token(self, user=user) as session:
                info = session.client.get_token(session.access_token, self.reference_number)
        except KsefRetryLater:
            raise
        except (KsefAuthFailed, KsefError, UserError, AccessError) as e:
            token_sudo.write(
                {
                    "connectivity_check_date": now,
                    "connectivity_ok": False,
                    "connectivity_message": str(e)[:500],
                }
            )
            _logger.info(
                "KSeF connectivity check of token %s failed (%s)",
                token_sudo.reference_number,
                type(e).__name__,
            )
            return False
        values = {
            "connectivity_check_date": now,
            "connectivity_ok": info.status == "Active",
            "connectivity_message": self.env._(
                "Authenticated; KSeF reports the token as %(status)s.", status=info.status
            ),
        }
        state = KSEF_STATUS_TO_STATE.get(info.status)
        if state and state != token_sudo.state:
            values["state"] = state
        if info.last_use_date:
            values["last_use_date"] = info.last_use_date.replace(tzinfo=None)
        token_sudo.write(values)
        return values["connectivity_ok"]

    def _ksef_check_unverified(self, user=None):
        """Connectivity run for an imported token KSeF could not be asked about: verify it
        (active on success, failed with the reason on refusal)."""
        self.ensure_one()
        user = (user or self.env.user).sudo(False)
        token_sudo = self.sudo()
        if not user.has_group("l10n_pl_ksef_token.group_ksef_admin") or (
            token_sudo.company_id not in user.company_ids
        ):
            raise AccessError(
                self.env._(
                    "Only KSeF administrators of %(company)s may check its tokens.",
                    company=token_sudo.company_id.name,
                )
            )
        try:
            token_sudo._ksef_verify_unverified()
        except KsefRateLimited as e:
            raise KsefRetryLater(self._ksef_error_message(e), e.retry_after or 60) from None
        ok = token_sudo.state == "active"
        token_sudo.write(
            {
                "connectivity_check_date": fields.Datetime.now(),
                "connectivity_ok": ok,
                "connectivity_message": (token_sudo.status_details or "")[:500]
                if not ok
                else self.env._(
                    "Authenticated; KSeF reports the token as %(status)s.", status="Active"
                ),
            }
        )
        return ok
