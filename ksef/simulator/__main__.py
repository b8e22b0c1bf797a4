"""``python -m ksef.simulator``: serve a seeded KSeF simulator on 127.0.0.1.

Environment: ``PORT`` (default 8090), ``HOST`` (default 127.0.0.1; binding elsewhere exposes
a server that accepts self-signed certificates to your network), ``KSEF_SIM_RATE_LIMITS``
(``0`` turns rate limits off), ``KSEF_SIM_AUTH_DELAY`` / ``KSEF_SIM_TOKEN_DELAY`` (seconds).
"""

from __future__ import annotations

import logging
import os
import sys

from .app import KsefSimulator
from .config import SimulatorConfig
from .server import serve

DEMO_NIP = "5265877635"


def _float_env(name, default):
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def build_demo_simulator():
    """A simulator with the demo context: owner NIP 5265877635, one active web-app token
    (InvoiceRead + InvoiceWrite) and a few invoices. Returns ``(simulator, token)``."""
    config = SimulatorConfig(
        rate_limits=os.environ.get("KSEF_SIM_RATE_LIMITS", "1") != "0",
        auth_delay=_float_env("KSEF_SIM_AUTH_DELAY", 1.0),
        token_activation_delay=_float_env("KSEF_SIM_TOKEN_DELAY", 2.0),
        token_revocation_delay=_float_env("KSEF_SIM_TOKEN_DELAY", 2.0),
    )
    sim = KsefSimulator(config)
    token = sim.create_token(
        DEMO_NIP, DEMO_NIP, ["InvoiceRead", "InvoiceWrite"], description="Token demo (symulator)"
    )
    sim.seed_invoices(DEMO_NIP, 5)
    return sim, token


def banner(base, token):
    """The start-up text: where the simulator listens and how to authenticate."""
    return "\n".join(
        [
            f"KSeF simulator (API 2.6, Test semantics) at {base}",
            f"Demo context: NIP {DEMO_NIP} (owner = any self-signed certificate with serialNumber "
            f"TINPL-{DEMO_NIP} or organizationIdentifier VATPL-{DEMO_NIP}).",
            "Demo KSeF token (InvoiceRead, InvoiceWrite) - a local test value, not a secret:",
            f"  {token}",
            "Authenticate with it: POST /auth/challenge, GET /security/public-key-certificates,",
            "  encrypt '<token>|<timestampMs>' with RSA-OAEP-SHA256, POST /auth/ksef-token,",
            "  poll GET /auth/{referenceNumber}, POST /auth/token/redeem; e.g. in Python:",
            f"  KsefClient('{base}').authenticate_with_ksef_token('<token>')",
            "",
        ]
    )


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        port = int(os.environ.get("PORT", "8090"))
    except ValueError:
        sys.stderr.write("PORT must be a number\n")
        return 2
    sim, token = build_demo_simulator()

    def ready(base):
        sys.stdout.write(banner(base, token))
        sys.stdout.flush()

    serve(host, port, sim, verbose=True, on_ready=ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
