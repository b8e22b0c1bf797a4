"""Invoice metadata, personal permission query and person grants against the simulator."""

from datetime import datetime, timedelta, timezone

import pytest

from ksef.simulator.testing import access_of

OTHER = "7352765225"


def _iso(days_ago):
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()


def _query(subject_type="Subject1", days=30, **extra):
    body = {
        "subjectType": subject_type,
        "dateRange": {"dateType": "PermanentStorage", "from": _iso(days)},
    }
    body.update(extra)
    return body


@pytest.fixture
def reader(raw, sim, test_nip):
    sim.seed_invoices(test_nip, 12)
    return access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceRead"])))


def test_sales_and_purchases(raw, reader, test_nip):
    sales = raw.post(
        "/invoices/query/metadata?pageSize=100", bearer=reader, json=_query("Subject1")
    ).json()
    assert len(sales["invoices"]) == 12 and not sales["hasMore"] and not sales["isTruncated"]
    assert all(i["seller"]["nip"] == test_nip for i in sales["invoices"])
    purchases = raw.post(
        "/invoices/query/metadata?pageSize=100", bearer=reader, json=_query("Subject2")
    ).json()
    assert len(purchases["invoices"]) == 12
    assert all(i["buyer"]["identifier"]["value"] == test_nip for i in purchases["invoices"])
    assert (
        raw.post("/invoices/query/metadata", bearer=reader, json=_query("Subject3")).json()[
            "invoices"
        ]
        == []
    )


def test_paging_sorting_and_dates(raw, reader):
    first = raw.post(
        "/invoices/query/metadata?pageSize=10&sortOrder=Desc", bearer=reader, json=_query()
    ).json()
    assert len(first["invoices"]) == 10 and first["hasMore"]
    dates = [i["permanentStorageDate"] for i in first["invoices"]]
    assert dates == sorted(dates, reverse=True)
    second = raw.post(
        "/invoices/query/metadata?pageSize=10&pageOffset=1&sortOrder=Desc",
        bearer=reader,
        json=_query(),
    ).json()
    assert len(second["invoices"]) == 2 and not second["hasMore"]
    recent = raw.post("/invoices/query/metadata", bearer=reader, json=_query(days=3)).json()
    assert len(recent["invoices"]) == 2  # stored 1 and 2 days ago


@pytest.mark.parametrize(
    "params, body",
    [
        ("", {"subjectType": "Subject9", "dateRange": {"dateType": "Issue", "from": _iso(1)}}),
        ("", {"subjectType": "Subject1", "dateRange": {"dateType": "Issue"}}),
        ("", {"subjectType": "Subject1", "dateRange": {"dateType": "Issue", "from": "yesterday"}}),
        ("", {"subjectType": "Subject1", "dateRange": {"dateType": "Issue", "from": _iso(200)}}),
        ("", {"subjectType": "Subject1"}),
        ("?pageSize=251", _query()),
        ("?sortOrder=Random", _query()),
    ],
)
def test_metadata_validation(raw, reader, params, body):
    response = raw.post("/invoices/query/metadata" + params, bearer=reader, json=body)
    assert response.status_code == 400
    assert response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21405


def test_metadata_needs_invoice_read(raw, sim, test_nip):
    access = access_of(raw.login_with_token(sim.create_token(test_nip, test_nip, ["InvoiceWrite"])))
    response = raw.post("/invoices/query/metadata", bearer=access, json=_query())
    assert response.status_code == 403
    assert response.json()["security"] == {
        "requiredAnyOfPermissions": ["InvoiceRead"],
        "presentPermissions": ["InvoiceWrite"],
    }


def test_branch_invoices_through_subject3(raw, sim, test_nip):
    from ksef.simulator.state import internal_id_with_check_digit

    branch = internal_id_with_check_digit(test_nip, "0001")
    sim.add_invoice(
        OTHER,
        test_nip,
        third_subjects=[
            {"identifier": {"type": "InternalId", "value": branch}, "name": "Oddział", "role": 2}
        ],
    )
    access = access_of(raw.login_with_token(sim.create_token(branch, test_nip, ["InvoiceRead"])))
    found = raw.post("/invoices/query/metadata", bearer=access, json=_query("Subject3")).json()
    assert len(found["invoices"]) == 1


def test_personal_grants_of_owner_and_paging(raw, owner_cert, test_nip):
    pytest.importorskip("ksef.xades")
    access = access_of(raw.login_with_certificate(*owner_cert, test_nip))
    body = raw.post("/permissions/query/personal/grants", bearer=access, json={}).json()
    scopes = {p["permissionScope"] for p in body["permissions"]}
    assert scopes == {
        "InvoiceRead",
        "InvoiceWrite",
        "CredentialsRead",
        "CredentialsManage",
        "SubunitManage",
        "Introspection",
        "CollectiveIdentifierManage",
    }
    filtered = raw.post(
        "/permissions/query/personal/grants",
        bearer=access,
        json={"permissionTypes": ["InvoiceWrite"]},
    ).json()
    assert [p["permissionScope"] for p in filtered["permissions"]] == ["InvoiceWrite"]
    empty = raw.post("/permissions/query/personal/grants?pageOffset=1", bearer=access).json()
    assert empty == {"permissions": [], "hasMore": False}
    bad = raw.post("/permissions/query/personal/grants?pageSize=5", bearer=access)
    assert bad.status_code == 400


def test_grant_persons_then_grantee_authenticates(
    raw, sim, owner_cert, other_person_cert, test_nip
):
    pytest.importorskip("ksef.xades")
    owner = access_of(raw.login_with_certificate(*owner_cert, test_nip))
    body = {
        "subjectIdentifier": {"type": "Nip", "value": OTHER},
        "permissions": ["InvoiceRead"],
        "description": "Księgowa",
        "subjectDetails": {
            "subjectDetailsType": "PersonByIdentifier",
            "personById": {"firstName": "Anna", "lastName": "Nowak"},
        },
    }
    response = raw.post("/permissions/persons/grants", bearer=owner, json=body)
    assert response.status_code == 202
    reference = response.json()["referenceNumber"]
    assert (
        raw.get(f"/permissions/operations/{reference}", bearer=owner).json()["status"]["code"]
        == 200
    )
    grantee = access_of(raw.login_with_certificate(*other_person_cert, test_nip))
    mine = raw.post("/permissions/query/personal/grants", bearer=grantee, json={}).json()[
        "permissions"
    ]
    assert [(p["permissionScope"], p["description"]) for p in mine] == [("InvoiceRead", "Księgowa")]
    # without CredentialsManage the grantee cannot grant further
    denied = raw.post("/permissions/persons/grants", bearer=grantee, json=body)
    assert denied.status_code == 403 and denied.json()["reasonCode"] == "missing-permissions"
    assert sim.permissions_of(test_nip, OTHER) == ["InvoiceRead"]


def test_revoke_common_grant(raw, sim, owner_cert, test_nip):
    pytest.importorskip("ksef.xades")
    sim.grant(test_nip, OTHER, ["InvoiceRead", "InvoiceWrite"], "Księgowa zewnętrzna")
    grantee = access_of(raw.login_with_token(sim.create_token(test_nip, OTHER, ["InvoiceRead"])))
    mine = raw.post("/permissions/query/personal/grants", bearer=grantee, json={}).json()
    permission_id = mine["permissions"][0]["id"]
    owner = access_of(raw.login_with_certificate(*owner_cert, test_nip))
    assert (
        raw.delete(f"/permissions/common/grants/{permission_id}", bearer=owner).status_code == 202
    )
    assert sim.permissions_of(test_nip, OTHER) == ["InvoiceWrite"]
    again = raw.delete(f"/permissions/common/grants/{permission_id}", bearer=owner)
    assert again.status_code == 400
    # the grantee lacks CredentialsManage
    denied = raw.delete(f"/permissions/common/grants/{permission_id}", bearer=grantee)
    assert denied.status_code == 403
