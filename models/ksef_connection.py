"""Where the Odoo layer gets a :class:`~..ksef.client.KsefClient` for an environment.

* ``test`` / ``demo`` / ``prod``: the Ministry's hosts (``ksef.environments``);
* ``sandbox``: the local KSeF simulator running inside this Odoo process (one per worker
  process, state in memory), so the addon can be tried without KSeF credentials.

Any environment's base URL can be overridden in the server configuration with
``ksef_url_<environment>`` (e.g. ``ksef_url_sandbox = http://127.0.0.1:8090/v2`` to use the
simulator of ``make simulator`` shared by all workers). The tests use it to talk to a real
HTTP simulator. This module is the only place that knows where KSeF is.
"""

from odoo.tools import config

from ..ksef.client import KsefClient
from ..ksef.environments import ENVIRONMENTS

#: connect / read timeouts of every KSeF call made from Odoo (seconds)
DEFAULT_TIMEOUT = (5, 30)


def base_url_override(environment):
    value = config.get(f"ksef_url_{environment}")
    return value if value and value not in ("False", "None") else None


def make_client(environment, *, timeout=DEFAULT_TIMEOUT, problem_details=True):
    """A KsefClient for ``environment`` (``test``, ``demo``, ``prod`` or ``sandbox``)."""
    override = base_url_override(environment)
    if override:
        return KsefClient(override, timeout=timeout, problem_details=problem_details)
    if environment == "sandbox":
        # test machinery: the simulator is loaded only when the Sandbox is used
        from ..ksef.simulator import sandbox

        session, base_url = sandbox.sandbox_session()
        return KsefClient(
            base_url, timeout=timeout, session=session, problem_details=problem_details
        )
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown KSeF environment {environment!r}")
    return KsefClient(environment, timeout=timeout, problem_details=problem_details)
