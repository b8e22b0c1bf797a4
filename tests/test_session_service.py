from odoo.exceptions import AccessError, ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged

from ..ksef.errors import KsefForbidden
from ..models.ksef_exceptions import KsefNoUsableToken, KsefRetryLater
from .session_common import AUTH, CTX_A1, REFRESH, KsefSessionCase

ADMIN_PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage")


@tagged("post_install", "-at_install")
class TestSessionScopes(KsefSessionCase):
    def test_scope_matrix(self):
        """Each KSeF group x each scope x token permissions: a session only when the group
        covers the scope AND the token carries what the scope needs; refusals say what."""
        permission_sets = {
            "P": ("InvoiceRead",),
            "W": ("InvoiceWrite",),
            "A": ADMIN_PERMISSIONS,
        }
        tokens = {name: self.sim_token(perms) for name, perms in permission_sets.items()}
        needs = {"fetch": "InvoiceRead", "send": "InvoiceWrite", "administer": "CredentialsManage"}
        covers = {
            self.admin_a: {"fetch", "send", "administer"},
            self.send_a: {"send"},
            self.fetch_a: {"fetch"},
            self.plain_a: set(),
        }
        for name, token in tokens.items():
            # only this token is a candidate
            for other in tokens.values():
                other.active = other == token
            for user, scopes in covers.items():
                for scope, permission in needs.items():
                    allowed = scope in scopes and permission in permission_sets[name]
                    with self.subTest(token=name, user=user.login, scope=scope):
                        if allowed:
                            with self.get_client(scope, user) as session:
                                self.assertEqual(session.token, token)
                                self.assertTrue(session.access_token)
                            continue
                        with self.assertRaises(KsefNoUsableToken) as caught:
                            self.get_client(scope, user)
                        message = str(caught.exception)
                        self.assertIn(token.display_name, message)
                        if scope not in scopes:
                            self.assertIn("is not in the group", message)
                        if permission not in permission_sets[name]:
                            self.assertIn(f"lacks the KSeF permission {permission}", message)
        # one full authentication per token, whatever the number of sessions handed out
        self.assertEqual(self.sim.calls[AUTH], 3)

    def test_no_token_at_all(self):
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client("fetch", self.fetch_a)
        self.assertIn("no KSeF token of this company", str(caught.exception))

    def test_own_token_then_branch_then_company(self):
        company_token = self.sim_token(("InvoiceRead", "InvoiceWrite"), description="Company")
        own_token = self.sim_token(
            ("InvoiceWrite",), description="Own token", scope="user", user_id=self.send_a.id
        )
        # send_a uses their own token; admin_a (no own token) the company's
        with self.get_client("send", self.send_a) as session:
            self.assertEqual(session.token, own_token)
        with self.get_client("send", self.admin_a) as session:
            self.assertEqual(session.token, company_token)
        # for the branch: the branch's token first, then the company's shared with the branch
        self.sim.grant(CTX_A1.value, self.company_a.ksef_nip, ["InvoiceRead", "InvoiceWrite"])
        branch_token = self.sim_token(
            ("InvoiceRead",),
            context=CTX_A1,
            description="Branch token",
            scope="branch",
            branch_id=self.branch_a1.id,
        )
        with self.get_client("fetch", self.fetch_a1, company=self.branch_a1) as session:
            self.assertEqual(session.token, branch_token)
        # the branch token cannot send; the company's token is not shared with the branch
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client("send", self.admin_a, company=self.branch_a1)
        self.assertIn("lacks the KSeF permission InvoiceWrite", str(caught.exception))
        self.assertIn("assigned neither", str(caught.exception))
        company_token.assigned_company_ids |= self.branch_a1
        with self.get_client("send", self.admin_a, company=self.branch_a1) as session:
            self.assertEqual(session.token, company_token)

    def test_user_of_another_company_is_refused(self):
        self.sim_token(("InvoiceRead",))
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client("send", self.send_b, company=self.company_a)
        self.assertIn("has no access to the company", str(caught.exception))

    def test_connectivity_session_only_for_administrators(self):
        token = self.sim_token(("InvoiceRead",))
        for user in (self.fetch_a, self.send_a, self.admin_b):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.service.get_client_for_token(token, user=user)
        with self.service.get_client_for_token(token, user=self.admin_a) as session:
            info = session.client.get_token(session.access_token, token.reference_number)
        self.assertEqual(info.status, "Active")


@tagged("post_install", "-at_install")
class TestSessionCache(KsefSessionCase):
    def test_access_token_reused_and_stored_encrypted(self):
        token = self.sim_token(("InvoiceRead",))
        with self.get_client() as first, self.get_client() as second:
            self.assertEqual(first.access_token, second.access_token)
            jwt = first.access_token
        self.assertEqual(self.sim.calls[AUTH], 1)
        self.assertEqual(self.sim.calls[REFRESH], 0)
        access_ct, refresh_ct, auths, refreshes, access_until, refresh_until = self.session_row(
            token
        )
        self.assertEqual((auths, refreshes), (1, 0))
        self.assertTrue(access_ct.startswith("v1:") and refresh_ct.startswith("v1:"))
        self.assertNotIn(jwt, access_ct)
        self.assertGreater(refresh_until, access_until)
        # the JWT columns are no ORM fields, and nobody has any right on the cache
        Session = self.env["ksef.session"]
        self.assertNotIn("access_ciphertext", Session.fields_get())
        for user in (self.admin_a, self.env.ref("base.user_admin")):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                Session.with_user(user).search([])

    def test_no_secret_in_the_logs(self):
        token = self.sim_token(("InvoiceRead",))
        with self.assertLogs("odoo.addons.l10n_pl_ksef_token", level="DEBUG") as logs:
            with self.get_client() as session:
                jwt = session.access_token
            self.move_clock(minutes=15)
            with self.get_client() as session:
                refreshed = session.access_token
        text = "\n".join(logs.output)
        self.assertIn(token.reference_number, text)  # the authentication is logged...
        for secret in (jwt, refreshed, token.sudo()._ksef_get_secret().split("|")[-1]):
            self.assertNotIn(secret, text)  # ...without any secret

    def test_neutralization_forgets_sessions(self):
        token = self.sim_token(("InvoiceRead",))
        self.get_client().close()
        self.assertTrue(self.session_row(token))
        for query in get_neutralization_queries(["l10n_pl_ksef_token"]):
            self.env.cr.execute(query)
        self.assertIsNone(self.session_row(token))

    def test_access_expiry_refreshes_without_authenticating(self):
        self.sim_token(("InvoiceRead",))
        with self.get_client() as session:
            first = session.access_token
        self.move_clock(minutes=15)  # the simulator's access tokens live 900 s
        with self.get_client() as session:
            self.assertNotEqual(session.access_token, first)
            second = session.access_token
        with self.get_client() as session:
            self.assertEqual(session.access_token, second)
        self.assertEqual(self.sim.calls[AUTH], 1)
        self.assertEqual(self.sim.calls[REFRESH], 1)

    def test_refresh_token_expiry_authenticates_again(self):
        token = self.sim_token(("InvoiceRead",))
        self.get_client().close()
        self.move_clock(days=7, minutes=1)  # KSeF keeps refresh tokens 7 days
        self.get_client().close()
        self.assertEqual(self.sim.calls[AUTH], 2)
        self.assertEqual(self.sim.calls[REFRESH], 0)
        self.assertEqual(self.session_row(token)[2:4], (2, 0))

    def test_refresh_refused_by_ksef_authenticates_again(self):
        """The refresh token expired in KSeF earlier than Odoo thought: authenticate."""
        self.sim_token(("InvoiceRead",))
        self.get_client().close()
        self.sim.advance(8 * 86400)
        self.move_clock(minutes=15)
        with self.get_client() as session:
            self.assertTrue(session.access_token)
        self.assertEqual(self.sim.calls[REFRESH], 1)
        self.assertEqual(self.sim.calls[AUTH], 2)

    def test_ip_policy_is_sent_and_validated(self):
        token = self.sim_token(("InvoiceRead",))
        with self.assertRaises(ValidationError):
            self.company_a.ksef_ip4_addresses = "300.1.2.3"
        with self.assertRaises(ValidationError):
            self.company_a.ksef_ip4_masks = ", ".join(f"10.{i}.0.0/16" for i in range(11))
        self.company_a.ksef_ip4_ranges = "10.0.0.1-10.0.0.9"
        with self.get_client() as session:
            # the session's access token only works from the allowed IPs: not from 127.0.0.1
            with self.assertRaises(KsefForbidden) as caught:
                session.client.get_token(session.access_token, token.reference_number)
            self.assertEqual(caught.exception.reason_code, "ip-not-allowed")
        # a changed policy is a new authentication (the cached session had the old one)
        self.company_a.ksef_ip4_ranges = False
        self.company_a.ksef_ip4_masks = "127.0.0.0/8"
        with self.get_client() as session:
            info = session.client.get_token(session.access_token, token.reference_number)
        self.assertEqual(info.status, "Active")
        self.assertEqual(self.sim.calls[AUTH], 2)


@tagged("post_install", "-at_install")
class TestSessionFailures(KsefSessionCase):
    def test_revoked_token_falls_back_and_notifies(self):
        revoked = self.sim_token(("InvoiceRead",), description="First token")
        spare = self.sim_token(("InvoiceRead",), description="Spare token")
        self.sim.set_token_status(revoked.reference_number, "Revoked")
        with self.get_client() as session:
            self.assertEqual(session.token, spare)
        self.assertEqual(revoked.state, "revoked")
        # a sentence saying what happened and what to do, not KSeF's raw status and text
        self.assertIn("it was revoked. Archive it", revoked.status_details)
        self.assertNotIn("450", revoked.status_details)
        activities = self.env["mail.activity"].search(
            [("res_model", "=", "ksef.token"), ("res_id", "=", revoked.id)]
        )
        self.assertIn(self.admin_a, activities.user_id)
        self.assertIn("it was revoked", revoked.message_ids[0].body)
        # the revoked token is no candidate any more: no new authentication attempt
        calls = self.sim.calls[AUTH]
        self.get_client().close()
        self.assertEqual(self.sim.calls[AUTH], calls)

    def test_revoked_after_caching_refresh_21301_then_450(self):
        first = self.sim_token(("InvoiceRead",), description="First token")
        self.get_client().close()
        spare = self.sim_token(("InvoiceRead",), description="Spare token")
        self.sim.set_token_status(first.reference_number, "Revoked")
        self.move_clock(minutes=15)
        with self.get_client() as session:
            self.assertEqual(session.token, spare)
        self.assertEqual(self.sim.calls[REFRESH], 1)  # refused with 21301
        self.assertEqual(first.state, "revoked")
        self.assertIsNone(self.session_row(first)[0])  # its cached session is gone

    def test_last_token_revoked_refusal_names_it(self):
        token = self.sim_token(("InvoiceRead",))
        self.sim.set_token_status(token.reference_number, "Revoked")
        with self.assertRaises(KsefNoUsableToken) as caught:
            self.get_client()
        self.assertIn("KSeF refused the token", str(caught.exception))

    def test_missing_permissions_403_corrects_the_token_and_falls_back(self):
        """Odoo believed the token could read invoices; KSeF says it cannot."""
        wrong = self.sim_token(
            ("InvoiceWrite",), description="Wrong token", odoo_permissions=("InvoiceRead",)
        )
        good = self.sim_token(("InvoiceRead",), description="Good token")

        def query(session):
            session.client.query_invoice_metadata(
                session.access_token,
                subject_type="Subject2",
                date_from="2026-01-01T00:00:00Z",
                date_to="2026-02-01T00:00:00Z",
            )
            return session.token

        self.assertEqual(
            self.service.with_user(self.admin_a).call(self.company_a, "fetch", query), good
        )
        self.assertEqual(wrong.permission_ids.mapped("name"), ["InvoiceWrite"])
        self.assertIn("InvoiceRead", wrong.status_details)

    def test_rate_limit_raises_retry_later(self):
        self.sim_token(("InvoiceRead",), description="First token")
        self.sim.config.rate_limits = {"public": (1, None, None)}
        self.get_client().close()
        self.env["ksef.session"].sudo().search([]).unlink()  # forget the session
        with self.assertRaises(KsefRetryLater) as caught:
            self.get_client()
        self.assertGreaterEqual(caught.exception.retry_after, 1)
        self.assertEqual(self.sleeps, [])  # a 429 is never slept through

    def test_server_errors_are_retried_with_backoff(self):
        self.sim_token(("InvoiceRead",))
        self.sim.faults.add("/auth/challenge", kind="error5xx", status=503, times=2)
        with self.get_client() as session:
            self.assertTrue(session.access_token)
        self.assertEqual(self.sleeps, [0.5, 1.0])
        self.assertEqual(self.sim.calls[AUTH], 1)

    def test_server_errors_give_up_after_bounded_attempts(self):
        self.sim_token(("InvoiceRead",))
        self.sim.faults.add("/auth/challenge", kind="error5xx", status=502, times=None)
        with self.assertRaises(KsefRetryLater) as caught:
            self.get_client()
        self.assertEqual(len(self.sleeps), 2)
        self.assertEqual(self.sim.calls["POST /auth/challenge"], 3)
        self.assertGreater(caught.exception.retry_after, 60)

    def test_dropped_connection_is_retried(self):
        self.sim_token(("InvoiceRead",))
        self.sim.faults.add("/auth/ksef-token", kind="drop_before", times=1)
        with self.get_client() as session:
            self.assertTrue(session.access_token)
        self.assertEqual(len(self.sleeps), 1)
