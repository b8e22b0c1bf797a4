"""Token permission names, presets and operation checks."""

import json

import pytest

from ksef.permissions import (
    OPERATION_PERMISSIONS,
    TOKEN_PERMISSIONS,
    TOKEN_TYPE_PERMISSIONS,
    missing_for,
    permissions_allow,
    type_a_permissions,
    validate_permissions,
)


def test_token_permissions_cover_the_openapi_enum(openapi_path, openapi_latest_path):
    spec = json.loads(openapi_path.read_text(encoding="utf-8"))
    enum = spec["components"]["schemas"]["TokenPermissionType"]["enum"]
    # API 2.6.0 in shared/: every name is known; 2.7.0 only adds CollectiveIdentifierManage
    assert set(enum) <= set(TOKEN_PERMISSIONS)
    assert set(TOKEN_PERMISSIONS) - set(enum) <= {"CollectiveIdentifierManage"}
    assert [p for p in TOKEN_PERMISSIONS if p in enum] == enum
    latest = json.loads(openapi_latest_path.read_text(encoding="utf-8"))
    assert set(latest["components"]["schemas"]["TokenPermissionType"]["enum"]) == set(
        TOKEN_PERMISSIONS
    )


def test_simulator_permission_enums_follow_the_latest_spec(openapi_latest_path):
    """Grants, personal grants and tokens accept CollectiveIdentifierManage as API 2.8.1 does."""
    from ksef.simulator import queries, state

    schemas = json.loads(openapi_latest_path.read_text(encoding="utf-8"))["components"]["schemas"]
    assert set(state.PERSON_PERMISSIONS) == set(schemas["PersonalPermissionScope"]["enum"])
    assert set(queries.GRANTABLE) <= set(schemas["PersonPermissionType"]["enum"])
    assert "CollectiveIdentifierManage" in queries.GRANTABLE
    assert set(queries.PERSONAL_SCOPES) <= set(schemas["PersonalPermissionScope"]["enum"])
    assert "CollectiveIdentifierManage" in queries.PERSONAL_SCOPES


def test_token_permission_order_and_presets():
    assert TOKEN_PERMISSIONS[0] == "InvoiceRead"
    assert TOKEN_PERMISSIONS[-1] == "CollectiveIdentifierManage"
    assert len(set(TOKEN_PERMISSIONS)) == 8
    assert TOKEN_TYPE_PERMISSIONS["W"] == ("InvoiceWrite",)
    assert TOKEN_TYPE_PERMISSIONS["P"] == ("InvoiceRead",)
    # A is what a NIP owner holds: the simulator models the owner on its own (its default
    # owner_permissions), so the two definitions are checked against each other
    from ksef.simulator.config import SimulatorConfig

    assert TOKEN_TYPE_PERMISSIONS["A"] == SimulatorConfig().owner_permissions
    assert "EnforcementOperations" not in TOKEN_TYPE_PERMISSIONS["A"]


def test_type_a_permissions_intersects_in_order():
    held = ["VatUeManage", "CredentialsManage", "InvoiceWrite", "InvoiceRead", "InvoiceWrite"]
    assert type_a_permissions(held) == ("InvoiceRead", "InvoiceWrite", "CredentialsManage")
    assert type_a_permissions([]) == ()
    assert type_a_permissions(None) == ()


def test_validate_permissions():
    assert validate_permissions(["InvoiceWrite", "InvoiceRead", "InvoiceWrite"]) == (
        "InvoiceRead",
        "InvoiceWrite",
    )
    assert validate_permissions("Introspection") == ("Introspection",)
    assert validate_permissions(()) == ()
    with pytest.raises(ValueError, match="VatUeManage"):
        validate_permissions(["InvoiceRead", "VatUeManage"])
    with pytest.raises(ValueError):
        validate_permissions(["invoiceread"])


@pytest.mark.parametrize(
    "operation, permissions, allowed",
    [
        ("send", ["InvoiceWrite"], True),
        ("send", ["InvoiceRead"], False),
        ("fetch", ["InvoiceRead", "Introspection"], True),
        ("fetch", ["InvoiceWrite"], False),
        ("administer", ["CredentialsManage"], True),
        ("administer", ["CredentialsRead"], False),
        ("send", [], False),
        ("send", None, False),
    ],
)
def test_permissions_allow(operation, permissions, allowed):
    assert permissions_allow(operation, permissions) is allowed
    assert missing_for(operation, permissions) == (
        () if allowed else OPERATION_PERMISSIONS[operation]
    )


def test_unknown_operation():
    with pytest.raises(ValueError):
        permissions_allow("delete", ["InvoiceWrite"])
