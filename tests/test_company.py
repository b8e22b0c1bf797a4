from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged

from .common import BRANCH_A1, NIP_A, KsefCase


@tagged("post_install", "-at_install")
class TestCompanySettings(KsefCase):
    def test_nip_comes_from_tax_id_and_parent(self):
        self.assertEqual(self.company_a.ksef_nip, NIP_A)
        # a branch without its own Tax ID uses its parent's NIP
        self.assertEqual(self.branch_a1.ksef_nip, NIP_A)
        no_vat = self.env["res.company"].create({"name": "Bez NIP"})
        self.assertFalse(no_vat.ksef_nip)
        bad_vat = self.env["res.company"].create({"name": "Zły NIP", "vat": "PL5265877636"})
        self.assertFalse(bad_vat.ksef_nip, "a NIP with a wrong check digit is not a KSeF NIP")

    def test_internal_id_check_digit_enforced(self):
        self.assertEqual(BRANCH_A1, f"{NIP_A}-00017")
        for wrong in (f"{NIP_A}-00013", f"{NIP_A}-00010", f"{NIP_A}-0001", f"{NIP_A}00017", "abc"):
            with self.subTest(internal_id=wrong), self.assertRaises(ValidationError):
                with self.env.cr.savepoint():
                    self.env["res.company"].create(
                        {
                            "name": "Oddział",
                            "parent_id": self.company_a.id,
                            "ksef_internal_id": wrong,
                        }
                    )

    def test_internal_id_must_start_with_the_company_nip(self):
        # 7740001454-00019 is a valid InternalId, but of another NIP
        from ..ksef import identifiers

        foreign = identifiers.make_internal_id("7740001454", "0001")
        with self.assertRaisesRegex(ValidationError, "does not start with the NIP"):
            self.env["res.company"].create(
                {"name": "Obcy", "parent_id": self.company_a.id, "ksef_internal_id": foreign}
            )

    def test_internal_id_unique(self):
        with self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.env["res.company"].create(
                {"name": "Duplikat", "parent_id": self.company_a.id, "ksef_internal_id": BRANCH_A1}
            )

    def test_neutralization_removes_production_secrets(self):
        prod, _token = self.import_token(environment="prod", description="Produkcja tokenu")
        test, _token = self.import_token(environment="test", description="Test tokenu")
        self.company_a.ksef_environment = "prod"
        self.assertTrue(self.ciphertext_of(prod))
        self.env.flush_all()
        queries = list(get_neutralization_queries(["l10n_pl_ksef_token"]))
        self.assertTrue(queries, "the addon ships data/neutralize.sql")
        for query in queries:
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(self.ciphertext_of(prod))
        self.assertFalse(prod.has_secret)
        self.assertTrue(self.ciphertext_of(test), "test tokens stay usable in a copy")
        self.assertEqual(self.company_a.ksef_environment, "test")

    def test_settings_show_the_company_and_its_branches_tokens(self):
        self.import_token(description="Token of company A")
        Settings = self.env["res.config.settings"]
        settings = Settings.with_company(self.company_a).new({"company_id": self.company_a.id})
        self.assertEqual(settings.ksef_token_count, 1)
        self.assertFalse(settings.ksef_is_branch)
        branch = Settings.with_company(self.branch_a1).new({"company_id": self.branch_a1.id})
        self.assertEqual(branch.ksef_token_count, 0)
        self.assertTrue(branch.ksef_is_branch)
