from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..ksef import identifiers as ksef_ids
from ..ksef import tokens as ksef_tokens
from .common import BRANCH_A1, BRANCH_A2, NIP_A, NIP_B, KsefCase

OFFICIAL_REF = "20251010-EC-1DCE3E3000-12ECB5B36E-45"
SECRET = "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbi10eXBlIjoiQ29udGV4dFRva2VuIiwiZXhwIjoxNzQ3MjI5NDk2fQ"
    ".kSuhL_7UGOBnq4dBk2wSZ5BTb3ERWw9Vs7vQFVJzJAk"
)


def nip_token(nip=NIP_A, ref=OFFICIAL_REF, secret=SECRET):
    return f"{ref}|nip-{nip}|{secret}"


# (input, fragment the message must contain): each must be refused with that explanation
BAD_INPUTS = [
    ("", "field is empty"),
    ("   \n\t  ", "field is empty"),
    ("\u200b\ufeff", "field is empty"),
    (SECRET.upper(), "KSeF 1.0 token"),
    (SECRET, "KSeF 1.0 token"),
    ("  " + SECRET.upper() + "\n", "KSeF 1.0 token"),
    (JWT, "JWT"),
    ("Bearer " + JWT, "JWT"),
    (OFFICIAL_REF, "only the reference number"),
    ("20250514-CR-226FB7B000-3ACF9BE4C0-10", "challenge"),
    ("x" * 5000, "far longer"),
    (nip_token() + "\n" + nip_token(ref="20251010-EC-1DCE3E3000-12ECB5B36E-46"), "more than one"),
    (nip_token(secret=SECRET[:-1]), "secret"),
    (nip_token(secret=SECRET + "ab"), "secret"),
    (nip_token(secret=SECRET[:-1] + "g"), "secret"),
    (nip_token(ref="20251010-XX-1DCE3E3000-12ECB5B36E-45"), "reference number"),
    (nip_token(ref="2025-EC-1DCE3E3000"), "reference number"),
    (f"{OFFICIAL_REF}|vat-{NIP_A}|{SECRET}", "KSeF context"),
    (f"{OFFICIAL_REF}|{NIP_A}|{SECRET}", "KSeF context"),
    (nip_token(nip="5265877636"), "check digit"),
    (nip_token(nip="526587763"), "KSeF context"),
    (f"{OFFICIAL_REF}|internalId-{NIP_A}-00013|{SECRET}", "check digit"),
    (f"{OFFICIAL_REF}|{SECRET}", "KSeF 2.0 token"),
    (f"{OFFICIAL_REF};nip-{NIP_A};{SECRET}", "This is not a KSeF 2.0 token"),
    ("hello world", "KSeF 2.0 token"),
    ("<AuthTokenRequest/>", "KSeF 2.0 token"),
    (f"{OFFICIAL_REF}||{SECRET}", "This is not a KSeF 2.0 token"),
    (f"|nip-{NIP_A}|{SECRET}", "This is not a KSeF 2.0 token"),
]


@tagged("post_install", "-at_install")
class TestImportWizard(KsefCase):
    def assert_nothing_stored(self, before):
        self.assertEqual(
            self.env["ksef.token"].with_context(active_test=False).search_count([]), before
        )

    def test_import_company_token(self):
        token, text = self.import_token(token_type="W")
        self.assertRecordValues(
            token,
            [
                {
                    "company_id": self.company_a.id,
                    "scope": "company",
                    "context_type": "Nip",
                    "context_value": NIP_A,
                    "environment": "test",
                    "token_type": "W",
                    "reference_number": text.split("|")[0],
                    "state": "active",
                    "origin": "imported",
                    "has_secret": True,
                }
            ],
        )
        self.assertEqual(token.permission_ids.mapped("name"), ["InvoiceWrite"])
        self.assertEqual(token.assigned_company_ids, self.company_a)
        self.assertIn("Token imported by", token.message_ids[0].body)
        self.assertNotIn(text.split("|")[2], token.message_ids[0].body)

    def test_import_branch_token(self):
        context = ksef_ids.ContextIdentifier.internal_id(BRANCH_A1)
        token, _text = self.import_token(
            context=context, scope="branch", branch_id=self.branch_a1.id, token_type="P"
        )
        self.assertEqual(token.company_id, self.branch_a1)
        self.assertEqual((token.context_type, token.context_value), ("InternalId", BRANCH_A1))
        self.assertEqual(token.assigned_company_ids, self.branch_a1)
        self.assertEqual(token.permission_ids.mapped("name"), ["InvoiceRead"])

    def test_import_operator_token(self):
        token, _text = self.import_token(scope="user", user_id=self.send_a.id, token_type="W")
        self.assertEqual(token.operator_id, self.send_a)
        self.assertEqual(token.user_ids, self.send_a)
        self.assertFalse(token.assigned_company_ids)

    def test_import_accepts_a_token_wrapped_over_lines_with_spaces(self):
        text = self.issued_token(ksef_ids.ContextIdentifier.nip(NIP_A))
        wrapped = "  \u00a0" + text[:50] + "\r\n" + text[50:100] + "\n " + text[100:] + "\n"
        token, _unused = self.import_token(token=wrapped)
        self.assertEqual(token.sudo()._ksef_get_secret(), text)

    def test_bad_inputs_give_clear_messages_and_store_nothing(self):
        before = self.env["ksef.token"].with_context(active_test=False).search_count([])
        for text, fragment in BAD_INPUTS:
            with self.subTest(text=text[:60]):
                with self.assertRaises(UserError) as caught:
                    self.import_token(token=text)
                message = str(caught.exception)
                self.assertIn(fragment, message)
                if SECRET in text:
                    self.assertNotIn(SECRET, message, "a message must never repeat the secret")
                self.assert_nothing_stored(before)

    def test_context_must_match_the_chosen_company_or_branch(self):
        before = self.env["ksef.token"].search_count([])
        cases = [
            ({}, ksef_ids.ContextIdentifier.nip(NIP_B)),
            ({}, ksef_ids.ContextIdentifier.internal_id(BRANCH_A1)),
            (
                {"scope": "branch", "branch_id": self.branch_a1.id},
                ksef_ids.ContextIdentifier.nip(NIP_A),
            ),
            (
                {"scope": "branch", "branch_id": self.branch_a1.id},
                ksef_ids.ContextIdentifier.internal_id(BRANCH_A2),
            ),
        ]
        for values, context in cases:
            with (
                self.subTest(context=context.token_prefix),
                self.assertRaisesRegex(UserError, "belongs to the KSeF context"),
            ):
                self.import_token(context=context, **values)
        self.assertEqual(self.env["ksef.token"].search_count([]), before)

    def test_duplicate_is_refused(self):
        token, text = self.import_token()
        with self.assertRaisesRegex(UserError, "already registered"):
            self.import_token(token=text, description="The same again")
        # also when pasted differently (upper-case secret, spaces)
        ref, ctx, secret = text.split("|")
        with self.assertRaisesRegex(UserError, "already registered"):
            self.import_token(token=f" {ref.lower()}|{ctx}|{secret.upper()} ")
        self.assertEqual(self.env["ksef.token"].search_count([("reference_number", "=", ref)]), 1)

    def test_other_bad_choices(self):
        with self.assertRaisesRegex(UserError, "5 to 256"):
            self.import_token(description="abc")
        with self.assertRaisesRegex(UserError, "no valid Polish NIP"):
            no_nip = self.env["res.company"].create({"name": "Bez NIP"})
            self.admin_a.company_ids |= no_nip
            self.import_token(company_id=no_nip.id)
        with self.assertRaisesRegex(UserError, "Choose the branch"):
            self.import_token(scope="branch")
        with self.assertRaisesRegex(UserError, "Choose the operator"):
            self.import_token(scope="user")
        with self.assertRaisesRegex(UserError, "has no access to"):
            self.import_token(scope="user", user_id=self.send_b.id)
        with self.assertRaisesRegex(UserError, "at least one KSeF permission"):
            self.import_token(token_type="custom", permission_ids=[(6, 0, [])])

    def test_only_administrators_of_the_company_import(self):
        for user in (self.send_a, self.fetch_a, self.plain_a):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.import_token(user=user)
        # an administrator of company B cannot import into company A
        with self.assertRaises(AccessError):
            self.import_token(user=self.admin_b, company_id=self.company_a.id)

    def test_type_presets(self):
        wizard = self.import_wizard(token_type="A")
        self.assertIn("CredentialsManage", wizard.permission_ids.mapped("name"))
        wizard.token_type = "P"
        self.assertEqual(wizard.permission_ids.mapped("name"), ["InvoiceRead"])
        wizard.token_type = "W"
        self.assertEqual(wizard.permission_ids.mapped("name"), ["InvoiceWrite"])

    def test_pasted_token_is_not_kept_in_clear_by_the_wizard(self):
        text = self.issued_token(ksef_ids.ContextIdentifier.nip(NIP_A))
        wizard = self.import_wizard(token_text=text)
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT row_to_json(w)::text FROM ksef_token_import w WHERE id = %s", [wizard.id]
        )
        self.assertNotIn(text.split("|")[2], self.env.cr.fetchone()[0])
        wizard.invalidate_recordset()
        self.assertFalse(wizard.token_text, "the pasted token cannot be read back")
        wizard.action_import()
        self.assertFalse(wizard.token_sealed)

    def test_parser_and_wizard_agree_on_the_official_format(self):
        parsed = ksef_tokens.parse_token(nip_token())
        self.assertEqual(parsed.reference_number, OFFICIAL_REF)
        # the wizard accepts its shape and asks KSeF, which never issued this example token
        with self.assertRaises(UserError) as caught:
            self.import_token(token=nip_token())
        self.assertIn("refused this token, so it was not imported", str(caught.exception))
        self.assertFalse(self.env["ksef.token"].search([("reference_number", "=", OFFICIAL_REF)]))
