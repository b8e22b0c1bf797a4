"""A local KSeF 2.0 simulator (Test environment semantics), in-process or over HTTP.

* :class:`KsefSimulator` (:mod:`.app`): the WSGI application and its test-support API;
* :class:`SimulatorConfig` (:mod:`.config`): delays, TTLs, rate limits;
* :class:`SimulatorServer` / :func:`serve` (:mod:`.server`): threaded HTTP on 127.0.0.1;
* :class:`WsgiAdapter` / :func:`in_process_session` (:mod:`.adapter`): ``requests``
  without sockets;
* :func:`get_sandbox` / :func:`sandbox_session` (:mod:`.sandbox`): the process-wide
  simulator of the Odoo "Sandbox" environment;
* :class:`~.testing.RawKsef` (:mod:`.testing`): the documented flows with plain ``requests``;
* ``python -m ksef.simulator``: serve a seeded demo on ``$PORT`` (default 8090).

Modules: ``app`` routing and request pipeline; ``auth`` authentication endpoints and
bearer checks; ``tokens`` the /tokens endpoints; ``certificates`` the /certificates
endpoints and the simulator CA issuing KSeF certificates; ``queries`` permissions, invoices and
rate-limit endpoints; ``state`` data and identifier rules; ``errors`` error bodies;
``ratelimit``; ``faults``; ``keys`` the encryption key; ``jwt``; ``clock``; ``web``
request parsing.

Where the simulator knowingly differs from KSeF (or KSeF is undocumented), the choice is
written in the docstring of the module concerned; the summary:

* a token-authenticated session may not ``POST /tokens`` (403 ``auth-method-not-allowed``;
  ``SimulatorConfig.require_xades_for_token_generation``), per the KSeF docs' "generating a
  token needs a XAdES login";
* out-of-reach tokens answer 403 ``missing-permissions``, unknown ones 400 21405;
  revoking a token that is already revoking/revoked/failed is a no-op 204;
* an expired signing certificate is refused synchronously (400 21115), a self-signed one
  with ``verifyCertificateChain=true`` ends with status 460;
* ``GET /auth/sessions`` lists the sessions of the current context (all subjects);
* rate-limit counters are shared per named group and per (context, IP); the public
  60 req/s endpoints count per endpoint and IP; the block time does not grow;
* KSeF certificates: revoking one in a KSeF-token session is 403 ``auth-method-not-allowed``
  (the spec only says "not available"); retrieve/query show only the caller's certificates
  (NIP–PESEL link included) and leave unknown serial numbers out; an issued certificate
  whose ``validTo`` (record) passed, or that is Offline/Blocked/Revoked, ends a login with
  460, but one past the notAfter of its DER is refused synchronously (21115) like any
  expired certificate; ``PUT /testdata/certificates`` may only move ``validTo`` earlier;
* a body over ``max_body_bytes`` (1 MiB) is 400 21405 (21001 for XAdES), KSeF has no 413.
"""

from .adapter import SANDBOX_BASE_URL, WsgiAdapter, in_process_session
from .app import KsefSimulator
from .clock import Clock
from .config import DEFAULT_RATE_LIMITS, SimulatorConfig, fast_test_config
from .sandbox import get_sandbox, reset_sandbox, sandbox_session
from .server import SimulatorServer, serve

__all__ = [
    "KsefSimulator",
    "SimulatorConfig",
    "fast_test_config",
    "DEFAULT_RATE_LIMITS",
    "Clock",
    "SimulatorServer",
    "serve",
    "WsgiAdapter",
    "in_process_session",
    "SANDBOX_BASE_URL",
    "get_sandbox",
    "sandbox_session",
    "reset_sandbox",
]
