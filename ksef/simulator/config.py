"""Configuration of the KSeF simulator and the rate-limit table of the KSeF Test environment.

The limits below are copied from ``x-rate-limits`` / the 429 descriptions of the official
OpenAPI (API 2.8.1, ``openapi-latest.json``) and from REFERENCE §7.  Since API 2.8.0 closing a
session has its own groups (``onlineSessionClose`` 20/60/240, ``batchSessionClose`` 20/40/120).
Each endpoint belongs to a *group*; requests are counted per ``(context, client IP, group)``
with sliding 1 s / 1 min / 1 h windows.  The public ("-") endpoints limited to 60 req/s are
counted per endpoint and per client IP.
"""

from __future__ import annotations

import dataclasses

#: group name -> (per second, per minute, per hour); ``None`` = no limit in that window.
DEFAULT_RATE_LIMITS = {
    # groups named by KSeF (EffectiveApiRateLimits)
    "onlineSession": (10, 30, 120),
    "onlineSessionClose": (20, 60, 240),
    "batchSession": (10, 20, 60),
    "batchSessionClose": (20, 40, 120),
    "invoiceSend": (10, 30, 180),
    "invoiceStatus": (30, 120, 1200),
    "sessionList": (5, 10, 60),
    "sessionInvoiceList": (10, 20, 200),
    "sessionMisc": (10, 120, 1200),
    "invoiceMetadata": (8, 16, 20),
    "invoiceExport": (8, 16, 20),
    "invoiceExportStatus": (10, 60, 600),
    "invoiceDownload": (8, 16, 64),
    "collectiveIdentifier": (20, 120, 240),
    "other": (10, 30, 120),
    # reported by GET /rate-limits since API 2.8.0; -1 there means "no limit in that window"
    "global": (None, None, None),
    # the public / authentication endpoints (60 req/s per IP), reported as ``anonymous``
    "public": (60, None, None),
}

#: the groups reported by ``GET /rate-limits`` (schema EffectiveApiRateLimits, all required
#: since API 2.8.0)
EFFECTIVE_GROUPS = (
    "onlineSession",
    "onlineSessionClose",
    "batchSession",
    "batchSessionClose",
    "invoiceSend",
    "invoiceStatus",
    "sessionList",
    "sessionInvoiceList",
    "sessionMisc",
    "invoiceMetadata",
    "invoiceExport",
    "invoiceExportStatus",
    "invoiceDownload",
    "collectiveIdentifier",
    "other",
    "anonymous",
    "global",
)


#: per authenticated subject type: (enrolments, active certificates), REFERENCE §6
DEFAULT_CERTIFICATE_LIMITS = {"Nip": (300, 100), "Pesel": (12, 6), "Fingerprint": (12, 6)}


def _limits_tuple(value):
    """Accept ``(s, m, h)`` or ``{'perSecond':…, 'perMinute':…, 'perHour':…}``."""
    if isinstance(value, dict):
        return (value.get("perSecond"), value.get("perMinute"), value.get("perHour"))
    s, m, h = value
    return (s, m, h)


@dataclasses.dataclass
class SimulatorConfig:
    """Behaviour knobs of :class:`~.app.KsefSimulator`.

    Times are in seconds of the simulator clock (``sim.clock``), so tests may jump past any
    of them with ``sim.advance()``.

    * ``rate_limits``: ``True`` (KSeF Test defaults), ``False`` (off) or a dict
      ``{group: (per_s, per_min, per_h)}`` (or ``{'perSecond':..}`` dicts) overriding the
      defaults of :data:`DEFAULT_RATE_LIMITS` for the groups it names.
    * ``token_activation_delay``: a new KSeF token stays ``Pending`` that long.
    * ``token_revocation_delay``: a revoked token stays ``Revoking`` that long.
    * ``auth_delay``: an authentication operation reports status 100 that long.
    * ``access_ttl`` / ``refresh_ttl`` / ``operation_ttl``: JWT lifetimes.
    * ``challenge_ttl``: how long a challenge can be used (KSeF: 10 minutes).
    * ``auth_retention``: after this, ``GET /auth/{ref}`` answers 410 Gone (KSeF: 7 days).
    * ``max_body_bytes``: larger request bodies are refused (400 21405 / 21001).
    * ``trust_forwarded_for``: take the client IP from ``X-Forwarded-For`` (only for a
      simulator behind a proxy you control; off by default).
    * ``require_xades_for_token_generation``: ``POST /tokens`` in a session authenticated
      with a KSeF token answers 403 ``auth-method-not-allowed`` (KSeF docs say generating a
      token needs a XAdES login; set ``False`` to allow it).
    * ``enrollment_delay``: a certificate enrolment reports status 100 that long.
    * ``certificate_validity_days``: validity of an issued KSeF certificate (from the
      simulator clock at issue, or from the request's ``validFrom``); KSeF: 2 years.
    * ``certificate_limits``: ``{identifier type: (enrolments, active certificates)}`` per
      authenticated subject (KSeF: Nip 300/100, Pesel 12/6, Fingerprint 12/6).
    * ``enrollment_retention``: after this ``GET /certificates/enrollments/{ref}`` answers
      410 Gone (KSeF: 30 days).
    * ``owner_permissions``: what the owner of a NIP context holds there.
    * ``seed_demo``: create the demo context / invoices of :mod:`.__main__`.
    """

    rate_limits: object = True
    token_activation_delay: float = 0.0
    token_revocation_delay: float = 0.0
    auth_delay: float = 0.0
    access_ttl: int = 900
    refresh_ttl: int = 7 * 86400
    operation_ttl: int = 2700
    challenge_ttl: int = 600
    auth_retention: int = 7 * 86400
    max_body_bytes: int = 1024 * 1024
    trust_forwarded_for: bool = False
    require_xades_for_token_generation: bool = True
    enrollment_delay: float = 0.0
    certificate_validity_days: int = 730
    certificate_limits: dict = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_CERTIFICATE_LIMITS)
    )
    enrollment_retention: int = 30 * 86400
    owner_permissions: tuple = (
        "InvoiceRead",
        "InvoiceWrite",
        "CredentialsRead",
        "CredentialsManage",
        "SubunitManage",
        "Introspection",
        "CollectiveIdentifierManage",
    )

    def effective_rate_limits(self):
        """The rate-limit table in force, or ``None`` when rate limiting is off."""
        if self.rate_limits is False or self.rate_limits is None:
            return None
        return self.rate_limit_table()

    def rate_limit_table(self):
        """The defaults with the overrides of a ``rate_limits`` dict (enforced or not)."""
        table = dict(DEFAULT_RATE_LIMITS)
        if isinstance(self.rate_limits, dict):
            for group, value in self.rate_limits.items():
                table[group] = _limits_tuple(value)
        return table


def fast_test_config(**overrides):
    """The configuration of the ``sim`` test fixture: no delays, no rate limits."""
    values = dict(
        rate_limits=False,
        token_activation_delay=0.0,
        token_revocation_delay=0.0,
        auth_delay=0.0,
        enrollment_delay=0.0,
    )
    values.update(overrides)
    return SimulatorConfig(**values)
