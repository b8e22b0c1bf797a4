"""Exceptions of the Odoo layer that callers (jobs, other modules) catch by type."""

from odoo.exceptions import UserError


class KsefRetryLater(Exception):
    """KSeF (or the session lock) asks to come back later: ``retry_after`` seconds.

    Every KSeF call made through the session factory raises this, and only this, for "not
    now": a 429, KSeF unreachable after the retries, another worker renewing the session.
    Crons catch it and reschedule themselves; the message is the one translated sentence of
    the error mapper (``ksef.messages``)."""

    #: why: KSeF's request limit (429), KSeF unreachable, or the session lock busy
    RATE_LIMIT, UNAVAILABLE, BUSY = "rate-limit", "unavailable", "busy"

    def __init__(self, message, retry_after, kind=UNAVAILABLE):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after or 1))
        self.kind = kind


class KsefNoUsableToken(UserError):
    """No credential may be used for the request; the message lists every candidate's
    problems."""

    def __init__(self, message, problems=None):
        super().__init__(message)
        #: ``{ksef.token id: [translated problems]}``
        self.problems = problems or {}


class KsefSecretUnreadable(UserError):
    """A stored secret cannot be decrypted (invalid or missing key): the caller skips this
    credential and goes on with the others."""
