"""The one error-to-message mapper: what a person reads when a KSeF call fails.

Every wizard, button, job message and stored status detail takes its text from
:meth:`KsefMessages._ksef_message`. KSeF's technical text (codes, paths, Polish details) goes
to the log only; never a secret in either.
"""

import logging

from odoo import api, models
from odoo.exceptions import UserError

from ..ksef.client import KsefTokenFailed
from ..ksef.errors import (
    KsefApiError,
    KsefAuthFailed,
    KsefAuthTimeout,
    KsefBadRequest,
    KsefError,
    KsefForbidden,
    KsefNotFound,
    KsefRateLimited,
    KsefServerError,
    KsefTransportError,
    KsefUnauthorized,
)
from .ksef_exceptions import KsefRetryLater

_logger = logging.getLogger(__name__)

#: KSeF's answer code for permissions the author of a token does not hold
MISSING_PERMISSIONS = 26001
#: KSeF's answer code for an invalid, expired or already used challenge
BAD_CHALLENGE = 21111
#: KSeF's validation error, what ``DELETE /tokens/{ref}`` answers for a token it does not know
UNKNOWN_TOKEN = 21405
#: delay suggested when KSeF stays unreachable (s)
UNAVAILABLE_RETRY_AFTER = 300
#: delay suggested for a 429 without Retry-After (s)
RATE_LIMIT_RETRY_AFTER = 60


def _is_token_revocation(exc):
    """Whether ``exc`` is KSeF's refusal of ``DELETE /tokens/{referenceNumber}``."""
    return getattr(exc, "method", None) == "DELETE" and str(
        getattr(exc, "path", "") or ""
    ).startswith("/tokens/")


class KsefMessages(models.AbstractModel):
    _name = "ksef.messages"
    _description = "KSeF Error Messages"

    @api.model
    def _ksef_message(self, exc):
        """The text for any failure a KSeF operation raises: a KSeF error (mapped), a
        :class:`KsefRetryLater` or a UserError (already a sentence for a person)."""
        if isinstance(exc, KsefError):
            return self._ksef_error_message(exc)
        if isinstance(exc, UserError):
            return exc.args[0]
        return str(exc)

    @api.model
    def _ksef_retry_later(self, error):
        """The :class:`KsefRetryLater` for a KSeF error that says "not now"."""
        if isinstance(error, KsefRateLimited):
            seconds, kind = error.retry_after or RATE_LIMIT_RETRY_AFTER, KsefRetryLater.RATE_LIMIT
        else:
            seconds, kind = UNAVAILABLE_RETRY_AFTER, KsefRetryLater.UNAVAILABLE
        return KsefRetryLater(self._ksef_error_message(error), seconds, kind)

    @api.model
    def _ksef_error_message(self, exc):
        """The one translated sentence a person reads for a KSeF failure: what happened and
        what to do."""
        _logger.info("KSeF failure shown to a user: %s: %s", type(exc).__name__, exc)
        if isinstance(exc, KsefRateLimited):
            return self.env._(
                "KSeF refuses more requests for now (rate limit). Try again in %(seconds)s "
                "seconds.",
                seconds=exc.retry_after or RATE_LIMIT_RETRY_AFTER,
            )
        if isinstance(exc, KsefTransportError):
            return self.env._(
                "KSeF could not be reached (%(kind)s). Check the connection and try again later.",
                kind=exc.kind,
            )
        if isinstance(exc, KsefAuthFailed):
            return self._ksef_auth_failed_message(exc)
        if isinstance(exc, KsefBadRequest) and BAD_CHALLENGE in exc.codes:
            return self.env._(
                "KSeF refused the signed request: its challenge expired (10 minutes), was "
                "already used or is unknown. Download a new auth.xml, sign it and upload it again."
            )
        if _is_token_revocation(exc) and (
            isinstance(exc, KsefNotFound)
            or (isinstance(exc, KsefBadRequest) and UNKNOWN_TOKEN in exc.codes)
        ):
            return self.env._(
                "KSeF does not know this token (it was never issued there, or in another "
                "environment), so there is nothing to revoke in KSeF. Archive the token in Odoo."
            )
        if isinstance(exc, KsefForbidden):
            return self._ksef_forbidden_message(exc)
        if isinstance(exc, KsefUnauthorized):
            return self.env._(
                "KSeF no longer accepts the session of this token (expired or ended). Try "
                "again; if it keeps failing, run Test connection on the token."
            )
        if isinstance(exc, KsefBadRequest) and set(exc.codes) & set(
            self._ksef_certificate_messages()
        ):
            messages = self._ksef_certificate_messages()
            return messages[next(c for c in exc.codes if c in messages)]
        if isinstance(exc, KsefBadRequest) and MISSING_PERMISSIONS in exc.codes:
            return self.env._(
                "KSeF refused to give the token permissions its author does not hold. Choose "
                "fewer permissions, or have the author granted them in KSeF first."
            )
        if isinstance(exc, KsefAuthTimeout | KsefTokenFailed):
            return self.env._(
                "KSeF did not finish the operation in time. Try again in a few minutes; the "
                "next sync shows whether it was done."
            )
        if isinstance(exc, KsefApiError):
            return self.env._(
                "KSeF refused the request (HTTP %(status)s, code %(code)s). Check the data "
                "and try again; the server log has KSeF's details.",
                status=exc.http_status or "-",
                code=exc.code or "-",
            )
        if isinstance(exc, KsefServerError):
            return self.env._(
                "KSeF is not answering properly right now (HTTP %(status)s). Try again later.",
                status=exc.http_status or "-",
            )
        return self.env._(
            "The KSeF operation failed (%(error)s). Try again later; the server log has the "
            "details.",
            error=type(exc).__name__,
        )

    @api.model
    def _ksef_auth_failed_message(self, exc):
        """A sentence per authentication status (and per 450 detail) of KSeF."""
        if exc.status_code == 450:
            texts = " ".join(str(t) for t in (exc.description, *(exc.details or ())) if t).lower()
            for keywords, message in self._ksef_450_messages():
                if any(word in texts for word in keywords):
                    return message
            return self.env._(
                "KSeF does not recognise this token. Check that you pasted the whole token for "
                "the right environment; else generate a new one."
            )
        return self._ksef_auth_status_messages().get(exc.status_code) or self.env._(
            "KSeF refused the authentication (status %(code)s). Try again later; the server "
            "log has KSeF's details.",
            code=exc.status_code,
        )

    @api.model
    def _ksef_450_messages(self):
        """``(keywords, message)`` for the details of KSeF's status 450 (token refused), in
        the order they are tried; KSeF writes the details in Polish, the simulator in both."""
        return [
            (
                ("kontekście", "context"),
                self.env._(
                    "KSeF refused the token: it was made in another context (another NIP or "
                    "branch) than the one it was used for. Import it under the company or "
                    "branch it was made for, or generate a token in this context."
                ),
            ),
            (
                ("kodowanie", "encoding"),
                self.env._(
                    "KSeF refused the token: it is not a KSeF 2.0 token (for example a token "
                    "from KSeF 1.0, which is no longer valid, or an incomplete copy). Generate "
                    "a new token in KSeF 2.0 (Aplikacja Podatnika / MCU) and import it."
                ),
            ),
            (
                ("szyfrowanie", "encryption"),
                self.env._(
                    "KSeF could not decrypt the token: it was encrypted with a key KSeF does "
                    "not use for tokens. Try again (Odoo downloads KSeF's keys again); if it "
                    "keeps failing, tell your administrator to update the KSeF addon."
                ),
            ),
            (
                ("czas", "time"),
                self.env._(
                    "KSeF refused the token's timestamp. Try again; if it keeps failing, check "
                    "the clock of the Odoo server."
                ),
            ),
            (
                ("wyzwanie", "challenge"),
                self.env._(
                    "KSeF refused the authentication challenge (expired or already used). Try "
                    "again."
                ),
            ),
            (
                ("unieważniony", "revoked"),
                self.env._(
                    "KSeF refused the token: it was revoked. Archive it and import or generate "
                    "a new token."
                ),
            ),
            (
                ("nieaktywny", "inactive"),
                self.env._(
                    "KSeF refused the token: it is not active (not yet activated, or its "
                    "creation failed). Wait a few minutes and try again, or generate a new "
                    "token."
                ),
            ),
        ]

    @api.model
    def _ksef_auth_status_messages(self):
        """A sentence per KSeF authentication status other than 450."""
        return {
            415: self.env._(
                "KSeF refused the authentication: the signer or token author holds no permission "
                "in this KSeF context. Have the permissions granted in KSeF first."
            ),
            425: self.env._("The KSeF authentication was revoked by the user. Authenticate again."),
            460: self.env._(
                "KSeF refused the certificate: it is invalid, expired, suspended or revoked. "
                "Use a valid certificate."
            ),
            470: self.env._(
                "KSeF refused the authentication: the authorisation means belong to a deceased "
                "person. Use another person's certificate or token."
            ),
            480: self.env._(
                "KSeF blocked the authentication (suspected security incident). Contact the "
                "Ministry of Finance's KSeF help desk."
            ),
            500: self.env._("KSeF failed with an unknown error. Try again later."),
            550: self.env._("KSeF cancelled the authentication. Try again."),
        }

    @api.model
    def _ksef_certificate_messages(self):
        """A sentence per KSeF answer code of the certificate endpoints."""
        return {
            25001: self.env._(
                "KSeF gives the data for a certificate request only to a login with a "
                "signature or a certificate, not with a KSeF token. Sign auth.xml instead."
            ),
            25002: self.env._(
                "KSeF accepts a certificate request only from a login with a signature or a "
                "certificate, not with a KSeF token. Sign auth.xml instead."
            ),
            25003: self.env._(
                "KSeF refused the certificate request: its subject differs from the data of "
                "the person or company who signed in. Start the request again."
            ),
            25004: self.env._(
                "KSeF refused the certificate request: the request (CSR) is damaged or its "
                "signature is wrong. Start the request again."
            ),
            25006: self.env._(
                "KSeF refused the certificate request: the signer has used up its certificate "
                "requests."
            ),
            25007: self.env._(
                "KSeF refused the certificate request: the signer already has as many active "
                "certificates as KSeF allows. Revoke one that is no longer used first."
            ),
            25008: self.env._(
                "KSeF does not know this certificate for the signed-in identity, so it cannot "
                "be revoked from here."
            ),
            25009: self.env._(
                "KSeF says this certificate is already revoked, blocked or no longer valid."
            ),
            25010: self.env._(
                "KSeF refused the certificate request: the key must be EC P-256 or RSA 2048."
            ),
            25011: self.env._(
                "KSeF refused the certificate request: the request's signature algorithm is not "
                "one KSeF accepts."
            ),
        }

    @api.model
    def _ksef_forbidden_message(self, exc):
        """A sentence per ``reasonCode`` of a 403 (also without ``timestamp`` or reason)."""
        if exc.reason_code == "missing-permissions":
            return self.env._(
                "KSeF refused the operation: the token lacks the permission %(permissions)s. "
                "Use a token with that permission, or generate one.",
                permissions=" / ".join(exc.missing_permissions) or "-",
            )
        return self._ksef_forbidden_messages().get(exc.reason_code) or self.env._(
            "KSeF refused the operation (access denied). Check the token's permissions and "
            "context; the server log has KSeF's details."
        )

    @api.model
    def _ksef_forbidden_messages(self):
        return {
            "ip-not-allowed": self.env._(
                "KSeF refused the request: it came from an IP address the session does not "
                "allow. Run it from the allowed address, or authenticate again."
            ),
            "insufficient-resource-access": self.env._(
                "KSeF refused access to this object: it belongs to another context or user. "
                "Use a token of the context that owns it."
            ),
            "auth-method-not-allowed": self.env._(
                "KSeF does not allow this operation with this way of signing in (for example "
                "generating a token with a token session). Sign auth.xml or use a certificate."
            ),
            "security-service-blocked": self.env._(
                "KSeF's security service blocked the request. Try again later; if it persists, "
                "contact the KSeF help desk."
            ),
            "context-type-not-allowed": self.env._(
                "KSeF does not offer this operation in this type of context. Use a company "
                "(NIP) or branch (internal ID) context."
            ),
        }
