"""Shared set-up of the pure-Python tests: makes ``ksef`` importable as a top-level package
(without importing the Odoo addon around it) and locates the reference material in shared/.

Simulator fixtures (see :mod:`ksef.simulator`):

* ``test_nip``: ``"5265877635"``, the NIP every simulator fixture uses (valid check digit);
* ``sim``: a fresh :class:`~ksef.simulator.KsefSimulator` per test with no delays (tokens
  are ``Active`` at once, authentication ends at the first poll) and rate limits OFF; use
  ``sim.config`` to change it in a test (e.g. ``sim.config.rate_limits = True``), and
  ``sim.advance(seconds)`` to jump past expiries;
* ``sim_server``: a real threaded HTTP server on a free 127.0.0.1 port serving ``sim``;
  yields the :class:`~ksef.simulator.SimulatorServer` (``.base_url`` ends with ``/v2``);
* ``owner_cert``: ``(private_key, certificate)`` of a self-signed person certificate with
  serialNumber ``TINPL-<test_nip>`` (owner of the ``test_nip`` context), session-scoped;
* ``seal_cert``: the same for a company seal (organizationIdentifier ``VATPL-<test_nip>``);
* ``other_person_cert``: a person certificate for NIP ``7352765225`` (no permissions in the
  ``test_nip`` context until a test grants some);
* ``raw``: :class:`ksef.simulator.testing.RawKsef` (plain ``requests``) over HTTP to
  ``sim_server``, validating every answer against openapi.json (fails the test otherwise);
* ``sim_openapi_spec``: the parsed openapi-latest.json (API 2.8.1), and ``sim_openapi_spec_2_6``
  the parsed openapi.json (API 2.6.0), once per run; recorders validate every answer against
  the first and, where the shapes are compatible, against the second.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("KSEF_SHARED_DIR") or ROOT.parent / "shared") / "ksef"


def shared_file(name):
    """Path of an official KSeF file in shared/ksef; outside CI a missing one skips the test."""
    path = SHARED / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must run with shared/ beside the repository")
        pytest.skip(f"{path} not available (set KSEF_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def openapi_path():
    """The official API 2.6.0 (what the addon was first built against)."""
    return shared_file("openapi.json")


@pytest.fixture(scope="session")
def openapi_latest_path():
    """The newest official API (2.8.1, production since 2026-09-23): the one validated first."""
    return shared_file("openapi-latest.json")


@pytest.fixture(scope="session")
def auth_xsd_path():
    """The official AuthTokenRequest schema v2.1 (v2.0 does not compile in libxml2)."""
    return shared_file("schemat_auth_v2-1.xsd")


# --- simulator fixtures ------------------------------------------------------------------------

TEST_NIP = "5265877635"
OTHER_NIP = "7352765225"


@pytest.fixture(scope="session")
def test_nip():
    return TEST_NIP


@pytest.fixture
def sim():
    from ksef.simulator import KsefSimulator, fast_test_config

    return KsefSimulator(fast_test_config())


@pytest.fixture
def sim_server(sim):
    from ksef.simulator import SimulatorServer

    with SimulatorServer(sim) as server:
        yield server


def _test_certificate(nip, kind):
    from ksef import testing_certs

    return testing_certs.generate_test_certificate(nip, kind=kind)


@pytest.fixture(scope="session")
def owner_cert():
    return _test_certificate(TEST_NIP, "person")


@pytest.fixture(scope="session")
def seal_cert():
    return _test_certificate(TEST_NIP, "seal")


@pytest.fixture(scope="session")
def other_person_cert():
    return _test_certificate(OTHER_NIP, "person")


@pytest.fixture(scope="session")
def sim_openapi_spec(openapi_latest_path):
    """The parsed openapi-latest.json (``client_fixtures.OpenApiSpec``), loaded once per run."""
    from ksef.tests.client_fixtures import OpenApiSpec

    return OpenApiSpec(openapi_latest_path)


@pytest.fixture(scope="session")
def sim_openapi_spec_2_6(openapi_path):
    """The parsed openapi.json (API 2.6.0), loaded once per run."""
    from ksef.tests.client_fixtures import OpenApiSpec

    return OpenApiSpec(openapi_path)


@pytest.fixture
def raw(sim_server, sim_openapi_spec, sim_openapi_spec_2_6):
    """:class:`ksef.simulator.testing.RawKsef` over real HTTP to ``sim_server``; every answer is
    checked against openapi-latest.json and, where compatible, openapi.json (the test fails at
    teardown on any non-conforming answer)."""
    import requests

    from ksef.simulator.testing import RawKsef
    from ksef.tests.client_fixtures import OpenApiRecorder

    recorder = OpenApiRecorder(sim_openapi_spec, legacy=sim_openapi_spec_2_6)
    with requests.Session() as session:
        recorder.install(session)
        helper = RawKsef(session, sim_server.base_url)
        helper.recorder = recorder
        yield helper
    recorder.assert_clean()
