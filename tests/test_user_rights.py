from lxml import etree

from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase

from odoo.addons.base.models.res_users import name_selection_groups

from .common import GROUP_ADMIN, GROUP_FETCH, GROUP_SEND


@tagged("post_install", "-at_install")
class TestUserRightsOnTheUserForm(TransactionCase):
    """A Settings administrator sets KSeF rights on the user form in normal mode."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.settings_admin = new_test_user(
            cls.env, login="settings_adm", groups="base.group_system,base.group_partner_manager"
        )
        cls.groups = {
            key: cls.env.ref(xmlid)
            for key, xmlid in (("admin", GROUP_ADMIN), ("send", GROUP_SEND), ("fetch", GROUP_FETCH))
        }
        cls.fields = {key: name_selection_groups(group.ids) for key, group in cls.groups.items()}

    def user_form_fields(self):
        Users = self.env(user=self.settings_admin)["res.users"]
        self.assertFalse(self.settings_admin.has_group("base.group_no_one"))  # no debug mode
        arch = Users.get_views([(self.env.ref("base.view_users_form").id, "form")])["views"][
            "form"
        ]["arch"]
        return {
            node.get("name"): node
            for node in etree.fromstring(arch).iter("field")
            if node.get("invisible") not in ("True", "1")
        }

    def test_the_form_shows_one_selection_per_scope_without_debug_mode(self):
        fields = self.user_form_fields()
        for key, name in self.fields.items():
            self.assertIn(name, fields, f"the KSeF {key} right is not on the user form")
        Users = self.env(user=self.settings_admin)["res.users"]
        description = Users.fields_get(list(self.fields.values()), ["string", "selection"])
        self.assertEqual(description[self.fields["send"]]["string"], "Sending invoices")
        self.assertEqual(
            [label for _v, label in description[self.fields["admin"]]["selection"]],
            ["", "Administrator (A)"],
        )

    def test_setting_the_fields_grants_independent_groups(self):
        Users = self.env(user=self.settings_admin)["res.users"]
        sender = Users.create(
            {
                "name": "Only sends",
                "login": "only_sends",
                self.fields["send"]: self.groups["send"].id,
            }
        )
        self.assertTrue(sender.has_group(GROUP_SEND))
        self.assertFalse(sender.has_group(GROUP_FETCH), "sending must not imply fetching")
        self.assertFalse(sender.has_group(GROUP_ADMIN))

        sender.write({self.fields["fetch"]: self.groups["fetch"].id})
        self.assertTrue(sender.has_group(GROUP_FETCH) and sender.has_group(GROUP_SEND))

        sender.write({self.fields["send"]: False})
        self.assertFalse(sender.has_group(GROUP_SEND))
        self.assertTrue(sender.has_group(GROUP_FETCH))

        sender.write({self.fields["admin"]: self.groups["admin"].id})
        self.assertTrue(sender.has_group(GROUP_ADMIN))
        self.assertTrue(sender.has_group(GROUP_SEND), "an administrator also sends")
        # the form reads the implied rights back as set
        values = sender.read(list(self.fields.values()))[0]
        self.assertEqual(values[self.fields["send"]], self.groups["send"].id)

    def test_only_settings_administrators_change_rights(self):
        ksef_admin = new_test_user(
            self.env, login="ksef_only_admin", groups=f"base.group_user,{GROUP_ADMIN}"
        )
        target = new_test_user(self.env, login="target_user", groups="base.group_user")
        from odoo.exceptions import AccessError

        with self.assertRaises(AccessError):
            target.with_user(ksef_admin).write({self.fields["send"]: self.groups["send"].id})
        self.assertFalse(target.has_group(GROUP_SEND))
