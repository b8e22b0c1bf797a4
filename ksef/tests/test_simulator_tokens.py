"""``/tokens`` against the simulator over real HTTP: generation rules (26001, 26002,
XAdES-only), statuses, and the visibility / revocation rules of API 2.4.0+."""

import re

import pytest

from ksef.simulator.testing import access_of

pytest.importorskip("ksef.xades")

OTHER = "7352765225"
TOKEN_RE = re.compile(
    r"^\d{8}-EC-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}\|nip-5265877635\|[0-9a-f]{64}$"
)


def _code(response):
    assert response.status_code == 400, response.text
    return response.json()["exception"]["exceptionDetailList"][0]


@pytest.fixture
def owner(raw, owner_cert, test_nip):
    """Access token of the owner's XAdES session."""
    return access_of(raw.login_with_certificate(*owner_cert, test_nip))


def test_generate_and_use(raw, sim, owner):
    created = raw.create_token(owner, ["InvoiceRead", "InvoiceWrite"], "Odoo – wysyłka faktur")
    assert TOKEN_RE.match(created["token"])
    assert created["token"].startswith(created["referenceNumber"] + "|")
    info = raw.get(f"/tokens/{created['referenceNumber']}", bearer=owner).json()
    assert info["status"] == "Active"
    assert info["authorIdentifier"] == {"type": "Nip", "value": "5265877635"}
    assert info["requestedPermissions"] == ["InvoiceRead", "InvoiceWrite"]
    assert info["lastUseDate"] is None
    raw.login_with_token(created["token"])
    assert raw.get(f"/tokens/{created['referenceNumber']}", bearer=owner).json()["lastUseDate"]


def test_internal_id_token_format(raw, owner_cert, test_nip):
    from ksef.simulator.state import internal_id_with_check_digit

    branch = internal_id_with_check_digit(test_nip, "0001")
    access = access_of(raw.login_with_certificate(*owner_cert, branch))
    token = raw.create_token(access, ["InvoiceRead"])["token"]
    assert token.split("|")[1] == f"internalId-{branch}"
    raw.login_with_token(token)


def test_activation_and_revocation_delays(raw, sim, owner):
    sim.config.token_activation_delay = 5
    sim.config.token_revocation_delay = 3
    created = raw.create_token(owner, ["InvoiceRead"])
    path = f"/tokens/{created['referenceNumber']}"
    assert raw.get(path, bearer=owner).json()["status"] == "Pending"
    init = raw.submit_ksef_token(created["token"]).json()
    assert raw.status(init)["status"]["details"] == ["Token nieaktywny"]
    sim.advance(5)
    assert raw.get(path, bearer=owner).json()["status"] == "Active"
    assert raw.delete(path, bearer=owner).status_code == 204
    assert raw.get(path, bearer=owner).json()["status"] == "Revoking"
    sim.advance(3)
    assert raw.get(path, bearer=owner).json()["status"] == "Revoked"
    assert raw.delete(path, bearer=owner).status_code == 204  # idempotent


def test_permissions_the_author_lacks_are_26001(raw, sim, other_person_cert, test_nip):
    sim.grant(test_nip, OTHER, ["InvoiceRead"])
    access = access_of(raw.login_with_certificate(*other_person_cert, test_nip))
    response = raw.post(
        "/tokens",
        bearer=access,
        json={
            "permissions": ["InvoiceRead", "InvoiceWrite", "CredentialsManage"],
            "description": "za dużo uprawnień",
        },
    )
    detail = _code(response)
    assert detail["exceptionCode"] == 26001
    assert detail["details"] == ["Brakujące uprawnienia: InvoiceWrite, CredentialsManage."]
    assert raw.create_token(access, ["InvoiceRead"])


def test_nip_vat_ue_context_is_26002(raw, sim, owner_cert, test_nip):
    from ksef.identifiers import ContextIdentifier

    context = ContextIdentifier("NipVatUe", f"{test_nip}-ATU12345678")
    sim.grant(f"{test_nip}-ATU12345678", test_nip, ["InvoiceRead"])
    access = access_of(raw.login_with_certificate(*owner_cert, context))
    detail = _code(
        raw.post(
            "/tokens", bearer=access, json={"permissions": ["InvoiceRead"], "description": "VAT UE"}
        )
    )
    assert detail["exceptionCode"] == 26002


def test_token_session_cannot_generate(raw, sim, test_nip):
    token = sim.create_token(test_nip, test_nip, ["CredentialsManage", "InvoiceRead"])
    access = access_of(raw.login_with_token(token))
    response = raw.post(
        "/tokens", bearer=access, json={"permissions": ["InvoiceRead"], "description": "z tokena"}
    )
    assert response.status_code == 403
    assert response.json()["reasonCode"] == "auth-method-not-allowed"
    assert response.json()["security"] == {"authenticationMethodCategory": "Token"}


@pytest.mark.parametrize(
    "body",
    [
        {"permissions": ["InvoiceRead"], "description": "abcd"},
        {"permissions": ["InvoiceRead"], "description": "x" * 257},
        {"permissions": ["VatUeManage"], "description": "valid description"},
        {"permissions": [], "description": "valid description"},
        {"permissions": "InvoiceRead", "description": "valid description"},
        {"permissions": ["InvoiceRead"], "description": 12345},
        {"description": "valid description"},
    ],
)
def test_generate_validation(raw, owner, body):
    assert _code(raw.post("/tokens", bearer=owner, json=body))["exceptionCode"] == 21405


def test_collective_identifier_manage_accepted(raw, owner):
    created = raw.create_token(owner, ["CollectiveIdentifierManage"])
    assert created["referenceNumber"]


def test_unknown_reference(raw, owner):
    assert (
        _code(raw.get("/tokens/20250101-EC-0000000000-0000000000-00", bearer=owner))[
            "exceptionCode"
        ]
        == 21405
    )
    assert _code(raw.get("/tokens/not-a-reference", bearer=owner))["exceptionCode"] == 21405


class TestVisibility:
    """REFERENCE 3.2-3.4: who sees and who may revoke which token."""

    @pytest.fixture
    def world(self, sim, test_nip):
        sim.grant(test_nip, OTHER, ["InvoiceRead", "InvoiceWrite"])
        return {
            "owner_token": sim.create_token(
                test_nip, test_nip, ["InvoiceRead"], "token właściciela"
            ),
            "other_token": sim.create_token(test_nip, OTHER, ["InvoiceRead"], "token pracownika"),
            "reader": sim.create_token(test_nip, test_nip, ["CredentialsRead"], "token do odczytu"),
            "manager": sim.create_token(
                test_nip, test_nip, ["CredentialsManage"], "token administratora"
            ),
        }

    @staticmethod
    def refs(raw, access):
        response = raw.get("/tokens?pageSize=100", bearer=access)
        assert response.status_code == 200, response.text
        return {t["referenceNumber"] for t in response.json()["tokens"]}

    @staticmethod
    def ref(token):
        return token.split("|")[0]

    def test_credentials_read_sees_all_but_cannot_revoke_others(self, raw, world):
        access = access_of(raw.login_with_token(world["reader"]))
        assert self.refs(raw, access) == {self.ref(t) for t in world.values()}
        response = raw.delete(f"/tokens/{self.ref(world['owner_token'])}", bearer=access)
        assert response.status_code == 403
        assert response.json()["security"]["requiredAnyOfPermissions"] == ["CredentialsManage"]

    def test_credentials_manage_revokes_any(self, raw, sim, world):
        access = access_of(raw.login_with_token(world["manager"]))
        assert (
            raw.delete(f"/tokens/{self.ref(world['other_token'])}", bearer=access).status_code
            == 204
        )
        assert sim.token_info(world["other_token"])["status"] in ("Revoking", "Revoked")

    def test_token_session_sees_and_revokes_only_itself(self, raw, sim, world):
        access = access_of(raw.login_with_token(world["owner_token"]))
        me = self.ref(world["owner_token"])
        assert self.refs(raw, access) == {me}
        assert raw.get(f"/tokens/{me}", bearer=access).status_code == 200
        other = raw.get(f"/tokens/{self.ref(world['other_token'])}", bearer=access)
        assert other.status_code == 403 and other.json()["reasonCode"] == "missing-permissions"
        assert raw.delete(f"/tokens/{self.ref(world['manager'])}", bearer=access).status_code == 403
        assert raw.delete(f"/tokens/{me}", bearer=access).status_code == 204
        assert sim.token_info(me)["status"] == "Revoked"

    def test_xades_session_without_credentials_sees_own_tokens(
        self, raw, world, other_person_cert, test_nip
    ):
        access = access_of(raw.login_with_certificate(*other_person_cert, test_nip))
        assert self.refs(raw, access) == {self.ref(world["other_token"])}
        assert (
            raw.get(f"/tokens/{self.ref(world['owner_token'])}", bearer=access).status_code == 403
        )
        assert (
            raw.delete(f"/tokens/{self.ref(world['owner_token'])}", bearer=access).status_code
            == 403
        )
        assert (
            raw.delete(f"/tokens/{self.ref(world['other_token'])}", bearer=access).status_code
            == 204
        )

    def test_owner_xades_session_sees_all(self, raw, world, owner_cert, test_nip):
        access = access_of(raw.login_with_certificate(*owner_cert, test_nip))
        assert self.refs(raw, access) == {self.ref(t) for t in world.values()}

    def test_pesel_linked_to_nip_counts_as_author(self, raw, sim, world, test_nip):
        sim.link_person(test_nip, "85010112345")
        token = sim.create_token(test_nip, "85010112345", ["InvoiceRead"], "token osoby PESEL")
        access = access_of(raw.login_with_token(world["owner_token"]))
        assert self.ref(token) not in self.refs(raw, access)  # token sessions: only itself
        from ksef.models import Identifier

        assert sim.state.same_author(
            Identifier("Nip", test_nip), Identifier("Pesel", "85010112345")
        )


class TestListing:
    @pytest.fixture
    def admin(self, raw, sim, test_nip):
        for i in range(25):
            sim.create_token(test_nip, test_nip, ["InvoiceRead"], f"Odoo token {i:02d}")
            sim.advance(1)
        sim.grant(test_nip, OTHER, ["InvoiceRead"])
        sim.create_token(test_nip, OTHER, ["InvoiceRead"], "Aplikacja mobilna KSeF")
        sim.set_token_status(sim.tokens_in(test_nip)[1]["referenceNumber"], "Revoked")
        return access_of(
            raw.login_with_token(sim.create_token(test_nip, test_nip, ["CredentialsRead"], "admin"))
        )

    def test_paging_sorted_newest_first(self, raw, admin):
        seen, token = [], None
        while True:
            headers = {"x-continuation-token": token} if token else {}
            body = raw.get("/tokens", bearer=admin, headers=headers).json()
            seen += body["tokens"]
            token = body.get("continuationToken")
            if not token:
                break
        assert len(seen) == 27
        dates = [t["dateCreated"] for t in seen]
        assert dates == sorted(dates, reverse=True)
        assert len({t["referenceNumber"] for t in seen}) == 27

    def test_filters(self, raw, admin):
        def count(query):
            response = raw.get("/tokens?pageSize=100&" + query, bearer=admin)
            assert response.status_code == 200, response.text
            return len(response.json()["tokens"])

        assert count("description=odoo%20TOKEN") == 25
        assert count("description=mobilna") == 1
        assert count("status=Revoked") == 1
        assert count("status=Revoked&status=Active") == 27
        assert count("authorIdentifier=73527") == 1
        assert count("authorIdentifierType=Nip&authorIdentifier=526587") == 26
        assert count("authorIdentifierType=Pesel") == 0

    @pytest.mark.parametrize(
        "query",
        [
            "description=ab",
            "authorIdentifier=12",
            "status=Nope",
            "authorIdentifierType=Regon",
            "pageSize=9",
            "pageSize=101",
            "pageSize=ten",
        ],
    )
    def test_bad_filters(self, raw, admin, query):
        assert _code(raw.get("/tokens?" + query, bearer=admin))["exceptionCode"] == 21405

    @pytest.mark.parametrize("bad", ["garbage", "e30=", "eyJ2IjoxLCJrIjpbXX0=", "x" * 2000])
    def test_malformed_continuation(self, raw, admin, bad):
        response = raw.get("/tokens", bearer=admin, headers={"x-continuation-token": bad})
        assert _code(response)["exceptionCode"] == 21418
