from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..ksef import identifiers as ksef_ids
from .common import BRANCH_A1, NIP_B, KsefCase

ALL = ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage")


@tagged("post_install", "-at_install")
class TestAccessMatrix(KsefCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        perms = cls.env["ksef.permission"]

        def make(user, description, context, permissions, **values):
            case = cls.__new__(cls)
            token, _text = KsefCase.import_token(
                case,
                user=user,
                context=context,
                description=description,
                token_type="custom",
                permission_ids=[(6, 0, perms._by_names(permissions).ids)],
                **values,
            )
            return token

        nip_a = ksef_ids.ContextIdentifier.nip(cls.company_a.ksef_nip)
        cls.t_company_a = make(cls.admin_a, "Company A token", nip_a, ALL)
        cls.t_branch_a1 = make(
            cls.admin_a,
            "Branch A1 token",
            ksef_ids.ContextIdentifier.internal_id(BRANCH_A1),
            ("InvoiceRead",),
            scope="branch",
            branch_id=cls.branch_a1.id,
        )
        cls.t_user_send_a = make(
            cls.admin_a,
            "Operator token of send_a",
            nip_a,
            ("InvoiceWrite",),
            scope="user",
            user_id=cls.send_a.id,
        )
        cls.t_company_b = make(
            cls.admin_b,
            "Company B token",
            ksef_ids.ContextIdentifier.nip(NIP_B),
            ("InvoiceRead", "InvoiceWrite"),
            company_id=cls.company_b.id,
        )
        cls.tokens = cls.t_company_a | cls.t_branch_a1 | cls.t_user_send_a | cls.t_company_b

    def visible(self, user):
        env = self.env(user=user, context={"allowed_company_ids": user.company_ids.ids})
        return env["ksef.token"].search([("id", "in", self.tokens.ids)])

    def test_who_sees_which_token(self):
        expected = {
            self.admin_a: self.t_company_a | self.t_branch_a1 | self.t_user_send_a,
            self.admin_b: self.t_company_b,
            self.send_a: self.t_company_a | self.t_user_send_a,
            self.fetch_a: self.t_company_a,
            self.fetch_a1: self.t_branch_a1,
            self.send_b: self.t_company_b,
        }
        for user, tokens in expected.items():
            with self.subTest(user=user.login):
                self.assertEqual(self.visible(user), tokens)
                # metadata is readable, and nothing in it is the secret
                for values in self.visible(user).read():
                    self.assertTrue(values["reference_number"])
                    self.assertNotIn("secret_ciphertext", values)

    def test_user_of_company_a_never_reads_company_b_tokens(self):
        for user in (self.admin_a, self.send_a, self.fetch_a, self.fetch_a1):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.t_company_b.with_user(user).read(["name"])

    def test_users_without_ksef_group_see_nothing(self):
        with self.assertRaises(AccessError):
            self.env(user=self.plain_a)["ksef.token"].search([])

    def test_only_administrators_modify_tokens(self):
        for user in (self.send_a, self.fetch_a):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.t_company_a.with_user(user).write({"name": "Renamed by a user"})
        self.t_company_a.with_user(self.admin_a).write({"name": "Renamed by the admin"})
        with self.assertRaises(AccessError):
            self.t_company_b.with_user(self.admin_a).write({"name": "Renamed across companies"})

    def test_nobody_reads_the_secret(self):
        for user in (self.admin_a, self.send_a, self.fetch_a, self.env.ref("base.user_admin")):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.t_company_a.with_user(user)._ksef_get_secret()

    def test_use_matrix(self):
        """(user, token, operation) -> allowed? The access service decides for every feature."""
        t_ca, t_b1, t_us, t_cb = (
            self.t_company_a,
            self.t_branch_a1,
            self.t_user_send_a,
            self.t_company_b,
        )
        matrix = [
            (self.admin_a, t_ca, "administer", True),
            (self.admin_a, t_ca, "send", True),
            (self.admin_a, t_ca, "fetch", True),
            (self.admin_a, t_b1, "fetch", True),
            (self.admin_a, t_b1, "send", False),  # the token lacks InvoiceWrite
            (self.admin_a, t_b1, "administer", False),  # the token lacks CredentialsManage
            (self.admin_a, t_cb, "fetch", False),  # another company
            (self.send_a, t_ca, "send", True),
            (self.send_a, t_ca, "fetch", False),  # W group does not cover P
            (self.send_a, t_ca, "administer", False),
            (self.send_a, t_us, "send", True),  # the user's own token
            (self.send_a, t_b1, "send", False),
            (self.fetch_a, t_ca, "fetch", True),
            (self.fetch_a, t_ca, "send", False),
            (self.fetch_a, t_us, "fetch", False),  # assigned to send_a only
            (self.fetch_a1, t_b1, "fetch", True),
            (self.fetch_a1, t_ca, "fetch", False),  # the branch user has no access to A
            (self.send_b, t_cb, "send", True),
            (self.send_b, t_ca, "send", False),
            (self.admin_b, t_ca, "administer", False),
            (self.plain_a, t_ca, "fetch", False),
        ]
        for user, token, operation, allowed in matrix:
            with self.subTest(user=user.login, token=token.name, operation=operation):
                problems = self.env["ksef.access"]._ksef_token_problems(token, operation, user=user)
                self.assertEqual(not problems, allowed, problems)
                if allowed:
                    self.assertTrue(
                        self.env["ksef.access"]._ksef_check_token(token, operation, user=user)
                    )
                else:
                    with self.assertRaises(AccessError):
                        self.env["ksef.access"]._ksef_check_token(token, operation, user=user)

    def test_refusal_names_what_is_missing(self):
        with self.assertRaises(AccessError) as caught:
            self.env["ksef.access"]._ksef_check_token(self.t_branch_a1, "send", user=self.fetch_a1)
        message = str(caught.exception)
        self.assertIn("Send invoices (W)", message)
        self.assertIn("InvoiceWrite", message)

    def test_acting_company_must_be_assigned(self):
        self.assertFalse(
            self.env["ksef.access"]._ksef_token_problems(
                self.t_company_a, "fetch", user=self.admin_a, company=self.company_a
            )
        )
        problems = self.env["ksef.access"]._ksef_token_problems(
            self.t_company_a, "fetch", user=self.admin_a, company=self.branch_a1
        )
        self.assertTrue(any("assigned" in p for p in problems))

    def test_inactive_expired_or_secretless_tokens_are_not_usable(self):
        self.t_company_a.sudo().state = "revoked"
        self.assertTrue(
            self.env["ksef.access"]._ksef_token_problems(self.t_company_a, "send", user=self.send_a)
        )
        self.t_company_a.sudo().state = "active"
        self.t_company_a.sudo().expiry_date = "2026-01-01"
        self.assertTrue(
            any(
                "expired" in p
                for p in self.env["ksef.access"]._ksef_token_problems(
                    self.t_company_a, "send", user=self.send_a
                )
            )
        )
        self.t_company_a.sudo().expiry_date = False
        self.t_company_a.sudo()._ksef_wipe_secret()
        self.assertTrue(
            any(
                "no secret" in p
                for p in self.env["ksef.access"]._ksef_token_problems(
                    self.t_company_a, "send", user=self.send_a
                )
            )
        )

    def test_sharing_only_within_the_same_nip(self):
        from odoo.exceptions import ValidationError

        with self.assertRaisesRegex(ValidationError, "another NIP"):
            self.t_company_a.with_user(self.admin_a).sudo().assigned_company_ids |= self.company_b
