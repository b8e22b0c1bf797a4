"""Shared set-up of the pure-Python tests: makes ``ksef`` importable as a top-level package
(without importing the Odoo addon around it) and locates the reference material in shared/."""

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
    return shared_file("openapi.json")


@pytest.fixture(scope="session")
def auth_xsd_path():
    """The official AuthTokenRequest schema v2.1 (v2.0 does not compile in libxml2)."""
    return shared_file("schemat_auth_v2-1.xsd")
