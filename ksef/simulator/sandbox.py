"""One process-wide simulator for the Odoo "Sandbox" environment.

Odoo serves requests from many threads (and workers): the sandbox simulator lives as long as
the process, so tokens created in it survive between requests of the same worker (each
worker process has its own sandbox; restarting Odoo empties it).

    from odoo.addons.l10n_pl_ksef_token.ksef.simulator import sandbox
    session, base_url = sandbox.sandbox_session()          # requests.Session, in-process
    KsefClient(base_url, session=session)
    token = sandbox.get_sandbox().create_token(nip, nip, ["InvoiceRead", "InvoiceWrite"])

Its configuration is the Test environment's (rate limits on) with short, visible delays
(authentication 1 s, token activation/revocation 2 s) so the UI shows the pending states.
"""

from __future__ import annotations

import threading

from .adapter import SANDBOX_BASE_URL, in_process_session
from .app import KsefSimulator
from .config import SimulatorConfig

_lock = threading.Lock()
_sandbox = None


def sandbox_config():
    return SimulatorConfig(
        rate_limits=True, auth_delay=1.0, token_activation_delay=2.0, token_revocation_delay=2.0
    )


def get_sandbox():
    """The process-wide :class:`KsefSimulator` (created on first use)."""
    global _sandbox
    with _lock:
        if _sandbox is None:
            _sandbox = KsefSimulator(sandbox_config())
        return _sandbox


def sandbox_session(client_ip="127.0.0.1"):
    """``(requests.Session, base_url)`` talking in-process to :func:`get_sandbox`."""
    return in_process_session(get_sandbox(), SANDBOX_BASE_URL, client_ip=client_ip)


def reset_sandbox():
    """Forget everything the sandbox holds (tests, or a "reset sandbox" button)."""
    get_sandbox().reset()
