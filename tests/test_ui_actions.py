"""What the web client calls when people click: list and form buttons, menus, pickers, the
Actions menu, per role (issue 8)."""

from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, tagged
from odoo.tools.safe_eval import safe_eval

from .ksef_sim_case import KsefSimCase

AUTH_ROUTES = ("POST /auth/challenge", "POST /auth/xades-signature")


def evaluated_domain(wizard, field_name):
    """The domain of a wizard field as the web client evaluates it (record values)."""
    values = {name: wizard[name].id for name in ("company_id", "branch_id") if name in wizard}
    values["operator_candidate_ids"] = wizard.operator_candidate_ids.ids
    return safe_eval(wizard._fields[field_name].domain, values)


@tagged("post_install", "-at_install")
class TestButtonsOverRpc(KsefSimCase, HttpCase):
    """Header buttons of type object are called by /web/dataset/call_button with the selected
    ids (``args: [ids]``): with no row selected and with rows selected."""

    def call_button(self, method, ids):
        return self.make_jsonrpc_request(
            "/web/dataset/call_button",
            {"model": "ksef.token", "method": method, "args": [ids], "kwargs": {}},
        )

    def test_list_header_buttons_with_and_without_selection(self):
        token, _ = self.import_token(token_type="W")
        self.authenticate(self.admin_a.login, self.admin_a.login)
        for ids in ([], [token.id]):
            for method in ("action_ksef_open_import", "action_ksef_open_generate"):
                action = self.call_button(method, ids)
                # the password is asked first (identity check), then the wizard opens
                self.assertEqual(action["res_model"], "res.users.identitycheck", method)
            action = self.call_button("action_ksef_sync", ids)
            self.assertEqual(action["tag"], "display_notification")
            self.assertEqual(action["params"]["type"], "success", action["params"]["message"])

    def test_menus_ask_for_the_password(self):
        self.authenticate(self.admin_a.login, self.admin_a.login)
        for xmlid in ("ksef_token_import_menu", "ksef_token_generate_menu"):
            menu = self.env.ref(f"l10n_pl_ksef_token.{xmlid}")
            self.assertEqual(menu.action._name, "ir.actions.server")
            action = self.make_jsonrpc_request("/web/action/run", {"action_id": menu.action.id})
            self.assertEqual(action["res_model"], "res.users.identitycheck", xmlid)

    def test_token_form_buttons(self):
        token, _ = self.import_token(token_type="W")
        self.authenticate(self.admin_a.login, self.admin_a.login)
        action = self.call_button("action_ksef_test_connection", [token.id])
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        action = self.call_button("action_ksef_share_form", [token.id])
        self.assertEqual(action["res_model"], "ksef.token.share")
        action = self.call_button("action_ksef_revoke_form", [token.id])
        self.assertEqual(action["res_model"], "res.users.identitycheck")


@tagged("post_install", "-at_install")
class TestUiActions(KsefSimCase):
    # -- pickers -----------------------------------------------------------------------

    def test_company_and_branch_pickers_offer_the_users_companies(self):
        # only the branch is active in the switcher
        env = self.env(user=self.admin_a, context={"allowed_company_ids": [self.branch_a1.id]})
        wizard = env["ksef.token.import"].create(
            {
                "scope": "branch",
                "company_id": self.company_a.id,
                "environment": "test",
                "description": "Picker test",
            }
        )
        Company = env["res.company"].with_context(ksef_company_picker=True)
        found = {c for c, _name in Company.name_search("", evaluated_domain(wizard, "company_id"))}
        self.assertIn(self.company_a.id, found)
        self.assertNotIn(self.company_b.id, found)
        self.assertNotIn(self.branch_a1.id, found)  # roots only
        found = {c for c, _name in Company.name_search("", evaluated_domain(wizard, "branch_id"))}
        self.assertEqual(found, {self.branch_a1.id, self.branch_a2.id})
        # the second company's administrator is not offered Firma A
        env_b = self.env(user=self.admin_b, context={"allowed_company_ids": [self.company_b.id]})
        found = {
            c
            for c, _name in env_b["res.company"]
            .with_context(ksef_company_picker=True)
            .name_search("", [("parent_id", "=", False)])
        }
        self.assertEqual(found, {self.company_b.id})

    def test_clearing_the_company_keeps_the_environment(self):
        self.company_a.ksef_environment = "demo"
        env = self.as_user(self.admin_a)
        form = Form(env["ksef.token.import"])
        form.company_id = self.company_a
        self.assertEqual(form.environment, "demo")
        form.company_id = env["res.company"]
        self.assertEqual(form.environment, "demo")

    def test_operator_picker_follows_company_and_type(self):
        wizard = self.generate_wizard(scope="user", token_type="W")
        offered = self.env["res.users"].search(evaluated_domain(wizard, "user_id"))
        self.assertIn(self.send_a, offered)
        self.assertIn(self.admin_a, offered)
        self.assertNotIn(self.fetch_a, offered)
        self.assertNotIn(self.plain_a, offered)
        self.assertNotIn(self.send_b, offered)
        wizard.write({"token_type": "P", "branch_id": self.branch_a1.id})
        offered = wizard.operator_candidate_ids
        self.assertIn(self.fetch_a1, offered)
        self.assertNotIn(self.fetch_a, offered)  # not allowed on the branch
        self.assertNotIn(self.send_a, offered)
        wizard.token_type = "A"
        self.assertNotIn(self.fetch_a1, wizard.operator_candidate_ids)
        # a user outside the offer is refused before KSeF is asked
        wizard.write({"token_type": "W", "branch_id": False, "user_id": self.fetch_a.id})
        with self.assertRaisesRegex(UserError, "KSeF group"):
            wizard.action_prepare_request()
        self.assertFalse(any(self.sim.calls[r] for r in AUTH_ROUTES))

    # -- generation from any active company ------------------------------------------

    def test_generate_company_token_with_a_branch_active(self):
        env = self.env(user=self.admin_a, context={"allowed_company_ids": [self.branch_a1.id]})
        wizard = env["ksef.token.generate"].create(
            {
                "scope": "company",
                "company_id": self.company_a.id,
                "environment": "test",
                "token_type": "W",
                "description": "Token from a branch",
            }
        )
        wizard.action_prepare_request()
        self.sign(wizard)
        action = wizard.action_generate()
        token = self.env["ksef.token"].browse(action["res_id"])
        self.assertEqual(token.company_id, self.company_a)
        self.assertEqual(token.state, "active")
        self.assertIn(self.company_a.id, action["context"]["allowed_company_ids"])
        self.assertEqual(self.orphans(), [])

    def test_refusals_come_before_any_ksef_call(self):
        cases = [
            ({"description": "abc"}, "5 to"),
            ({"scope": "branch"}, "branch"),
            ({"scope": "user"}, "operator"),
            ({"company_id": self.company_b.id}, "no access|top-secret"),
        ]
        for values, message in cases:
            with self.subTest(values=values):
                wizard = self.generate_wizard(**values)
                with self.assertRaisesRegex((UserError, AccessError), message):
                    wizard.action_prepare_request()
        with self.assertRaises(AccessError):
            self.generate_wizard(user=self.send_a).action_prepare_request()
        self.assertFalse(any(self.sim.calls[r] for r in AUTH_ROUTES), self.sim.calls)

    # -- type and permissions come from KSeF only -------------------------------------

    def test_type_and_permissions_are_read_only(self):
        token, _ = self.import_token(token_type="W")
        admin_token = token.with_user(self.admin_a)
        with self.assertRaisesRegex(UserError, "fixed in KSeF"):
            admin_token.write({"token_type": "A"})
        with self.assertRaisesRegex(UserError, "fixed in KSeF"):
            admin_token.write({"permission_ids": [(4, self.perm["CredentialsManage"].id)]})
        self.assertEqual(token.token_type, "W")
        self.assertTrue(token._fields["token_type"].readonly)
        self.assertTrue(token._fields["permission_ids"].readonly)
        # the description stays editable
        admin_token.name = "Renamed token"

    def test_sync_keeps_the_type_of_a_revoked_token(self):
        self.import_token(token_type="A")  # the sync reads the inventory with it
        token, _ = self.import_token(token_type="W")
        self.sim.set_token_status(token.reference_number, "Revoked")
        self.env["ksef.token"].with_user(self.admin_a).with_context(
            allowed_company_ids=self.admin_a.company_ids.ids
        ).browse().action_ksef_sync()
        self.assertEqual(token.state, "revoked")
        self.assertEqual(token.token_type, "W")

    # -- sharing an A token --------------------------------------------------------------

    def test_a_token_is_shared_with_administrators_only(self):
        token, _ = self.import_token(token_type="A")
        self.assertEqual(token.token_type, "A")
        with self.assertRaisesRegex(UserError, "not KSeF administrators"):
            self.env["ksef.token.sharing"].with_user(self.admin_a)._ksef_check_share(
                token, self.send_a, self.env["res.company"]
            )
        self.env["ksef.token.sharing"].with_user(self.admin_a)._ksef_check_share(
            token, self.sysadmin_a, self.env["res.company"]
        )

    # -- Actions menu per role ----------------------------------------------------------

    def test_actions_menu_per_role(self):
        for user, may in (
            (self.admin_a, True),
            (self.send_a, False),
            (self.fetch_a, False),
        ):
            Token = self.env["ksef.token"].with_user(user)
            views = Token.get_views([(False, "list"), (False, "form")])
            for kind in ("list", "form"):
                arch = etree.fromstring(views["views"][kind]["arch"])
                self.assertEqual(arch.get("duplicate"), "0", (user.login, kind))
                self.assertEqual(arch.get("delete") != "0", may, (user.login, kind))
            active = views["models"]["ksef.token"]["fields"]["active"]
            # the web client offers Archive / Unarchive only when active is not read-only
            self.assertEqual(not active.get("readonly"), may, user.login)
