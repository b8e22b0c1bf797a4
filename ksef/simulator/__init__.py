"""A local KSeF 2.0 simulator (Test environment semantics), in-process or over HTTP.

* :class:`KsefSimulator` (:mod:`.app`): the WSGI application and its test-support API;
* :class:`SimulatorConfig` (:mod:`.config`): delays, TTLs, rate limits;
* :class:`SimulatorServer` / :func:`serve` (:mod:`.server`): threaded HTTP on 127.0.0.1;
* :class:`WsgiAdapter` / :func:`in_process_session` (:mod:`.adapter`): ``requests``
  without sockets (the Odoo "Sandbox" environment);
* ``python -m ksef.simulator``: serve a seeded demo on ``$PORT`` (default 8090).

Modules: ``app`` routing and request pipeline; ``auth`` authentication endpoints and
bearer checks; ``tokens`` the /tokens endpoints; ``queries`` permissions, invoices and
rate-limit endpoints; ``state`` data and identifier rules; ``errors`` error bodies;
``ratelimit``; ``faults``; ``keys`` the encryption key; ``jwt``; ``clock``; ``web`` request parsing.
"""

from .adapter import SANDBOX_BASE_URL, WsgiAdapter, in_process_session
from .app import KsefSimulator
from .clock import Clock
from .config import DEFAULT_RATE_LIMITS, SimulatorConfig, fast_test_config
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
]
