"""KSeF token permissions (``TokenPermissionType``, REFERENCE 3.6 and 8).

* :data:`TOKEN_PERMISSIONS`: every permission a KSeF token can carry, in KSeF's order
  (``CollectiveIdentifierManage`` since API 2.7.0);
* the addon's token presets (:data:`TOKEN_TYPE_PERMISSIONS`): ``W`` (send invoices), ``P``
  (fetch invoices) and ``A`` (administrative: what a NIP owner holds and a token can carry, incl.
  ``CollectiveIdentifierManage``; a generated A token gets the author's actual permissions, see
  :func:`type_a_permissions`);
* :data:`OPERATION_PERMISSIONS`: which permissions (any of) an operation of the addon needs.
"""

from __future__ import annotations

__all__ = [
    "OPERATION_PERMISSIONS",
    "TOKEN_PERMISSIONS",
    "TOKEN_TYPE_PERMISSIONS",
    "TYPE_A_PERMISSIONS",
    "missing_for",
    "permissions_allow",
    "type_a_permissions",
    "validate_permissions",
]

TOKEN_PERMISSIONS = (
    "InvoiceRead",
    "InvoiceWrite",
    "CredentialsRead",
    "CredentialsManage",
    "SubunitManage",
    "EnforcementOperations",
    "Introspection",
    "CollectiveIdentifierManage",
)

#: the type-A preset: every token permission a NIP owner holds (all but
#: ``EnforcementOperations``, which only an enforcement authority has), in KSeF's order
TYPE_A_PERMISSIONS = tuple(p for p in TOKEN_PERMISSIONS if p != "EnforcementOperations")

#: the presets of the token types; a generated ``'A'`` token carries what its author holds
#: (:func:`type_a_permissions`), :data:`TYPE_A_PERMISSIONS` is what is assumed until KSeF says
TOKEN_TYPE_PERMISSIONS = {
    "W": ("InvoiceWrite",),
    "P": ("InvoiceRead",),
    "A": TYPE_A_PERMISSIONS,
}

#: operation -> permissions of which ANY one is enough
OPERATION_PERMISSIONS = {
    "send": ("InvoiceWrite",),
    "fetch": ("InvoiceRead",),
    "administer": ("CredentialsManage",),
}


def validate_permissions(permissions) -> tuple:
    """Return the token permissions of ``permissions`` ordered as :data:`TOKEN_PERMISSIONS`,
    without duplicates; raise ``ValueError`` naming any unknown permission."""
    if isinstance(permissions, str):
        permissions = (permissions,)
    given = list(permissions or ())
    unknown = sorted({str(p) for p in given if p not in TOKEN_PERMISSIONS})
    if unknown:
        raise ValueError(f"unknown KSeF token permission(s): {', '.join(unknown)}")
    return tuple(p for p in TOKEN_PERMISSIONS if p in given)


def type_a_permissions(held) -> tuple:
    """Permissions of an ``A`` token: the author's ``held`` permissions that a token can carry
    (others, e.g. ``VatUeManage``, are ignored), in :data:`TOKEN_PERMISSIONS` order."""
    held = set(held or ())
    return tuple(p for p in TOKEN_PERMISSIONS if p in held)


def _required(operation):
    try:
        return OPERATION_PERMISSIONS[operation]
    except KeyError:
        raise ValueError(f"unknown operation {operation!r}") from None


def permissions_allow(operation, permissions) -> bool:
    """Whether ``permissions`` contain any one of those :data:`OPERATION_PERMISSIONS` require
    for ``operation`` (``'send'``, ``'fetch'``, ``'administer'``)."""
    held = set(permissions or ())
    return any(p in held for p in _required(operation))


def missing_for(operation, permissions) -> tuple:
    """Permissions to add for ``operation`` (any one of them is enough); ``()`` if allowed."""
    if permissions_allow(operation, permissions):
        return ()
    return tuple(_required(operation))
