from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import NIP_A
from .ksef_sim_case import CTX_A, KsefSimCase


@tagged("post_install", "-at_install")
class TestRevoke(KsefSimCase):
    def revoke(self, tokens, user=None):
        user = user or self.admin_a
        env = self.as_user(user)
        action = env["ksef.token"].with_context(active_ids=tokens.ids).action_ksef_open_revoke()
        wizard = env["ksef.token.revoke"].browse(action["res_id"])
        wizard.action_revoke()
        return wizard.result

    def test_revoke_with_administrator_token(self):
        self.generate_signed_outside(token_type="A", description="Admin token")
        token = self.generate_signed_outside(token_type="W")
        result = self.revoke(token)
        self.assertIn("revoked", result)
        self.assertNotIn("NOT", result)
        self.assertEqual(token.state, "revoked")
        self.assertFalse(token.has_secret)
        self.assertIsNone(self.ciphertext_of(token))
        self.assertEqual(self.sim.token_info(token.reference_number)["status"], "Revoked")
        self.assertTrue(any("revoked in KSeF" in m.body for m in token.message_ids))

    def test_self_revoke_without_administrator_token(self):
        string = self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"])
        token, _string = self.import_token(token=string)
        self.revoke(token)
        self.assertEqual(self.sim.token_info(token.reference_number)["status"], "Revoked")
        self.assertEqual(token.state, "revoked")
        self.assertEqual(self.sim.calls["DELETE /tokens/{ref}"], 1)

    def test_partial_failure_reported_per_token(self):
        good, _s = self.import_token(token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"]))
        bad, _s = self.import_token(token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceWrite"]))
        self.sim.faults.add(
            f"/tokens/{bad.reference_number}", method="DELETE", kind="error5xx", times=None
        )
        result = self.revoke(good | bad)
        self.assertIn(f"{bad.display_name}: NOT revoked", result)
        self.assertEqual(good.state, "revoked")
        self.assertEqual(bad.state, "active")
        self.assertTrue(bad.has_secret)
        self.assertEqual(self.sim.token_info(bad.reference_number)["status"], "Active")

    def test_rights(self):
        token, _s = self.import_token(token=self.sim.create_token(CTX_A, NIP_A, ["InvoiceRead"]))
        token.user_ids = self.send_a
        for user in (self.send_a, self.admin_b):
            with self.assertRaises(AccessError):
                self.as_user(user)["ksef.token.revocation"]._ksef_revoke(
                    self.as_user(user)["ksef.token"].browse(token.ids)
                )
        self.assertEqual(self.sim.token_info(token.reference_number)["status"], "Active")


@tagged("post_install", "-at_install")
class TestShare(KsefSimCase):
    def share(self, tokens, users=None, companies=None, mode="share", user=None):
        env = self.as_user(user or self.admin_a)
        action = env["ksef.token"].with_context(active_ids=tokens.ids).action_ksef_open_share()
        wizard = env["ksef.token.share"].browse(action["res_id"])
        wizard.write(
            {
                "mode": mode,
                "user_ids": [(6, 0, (users or self.env["res.users"]).ids)],
                "company_ids": [(6, 0, (companies or self.env["res.company"]).ids)],
            }
        )
        wizard.action_apply()
        return wizard.result

    def test_share_and_unshare(self):
        token, _s = self.import_token()
        self.share(token, users=self.fetch_a, companies=self.branch_a1)
        self.assertIn(self.fetch_a, token.user_ids)
        self.assertIn(self.branch_a1, token.assigned_company_ids)
        self.assertTrue(any("Assigned to" in m.body for m in token.message_ids))
        self.share(token, users=self.fetch_a, companies=self.branch_a1, mode="unshare")
        self.assertNotIn(self.fetch_a, token.user_ids)
        self.assertNotIn(self.branch_a1, token.assigned_company_ids)

    def test_refused_outside_the_scope(self):
        company_token, _s = self.import_token()
        result = self.share(company_token, companies=self.company_b)
        self.assertIn(f"{company_token.display_name}: NOT changed", result)
        self.assertNotIn(self.company_b, company_token.assigned_company_ids)
        result = self.share(company_token, users=self.send_b)
        self.assertRegex(result, "NOT changed: .*no access")
        self.assertNotIn(self.send_b, company_token.user_ids)
        operator_token, _s = self.import_token(scope="user", user_id=self.send_a.id)
        result = self.share(operator_token, users=self.fetch_a)
        self.assertIn("operator token", result)
        self.assertEqual(operator_token.user_ids, self.send_a)

    def test_result_per_token(self):
        """One refused token does not stop the others; the result says which was shared."""
        shared, _s = self.import_token()
        operator_token, _s = self.import_token(scope="user", user_id=self.send_a.id)
        result = self.share(shared | operator_token, users=self.fetch_a)
        self.assertIn(f"{shared.display_name}: shared", result)
        self.assertIn(f"{operator_token.display_name}: NOT changed", result)
        self.assertIn(self.fetch_a, shared.user_ids)
        self.assertEqual(operator_token.user_ids, self.send_a)

    def test_branch_token_stays_in_its_branch(self):
        token = self.generate_signed_outside(scope="branch", branch_id=self.branch_a1.id)
        result = self.share(token, companies=self.branch_a2)
        self.assertIn("cannot be shared", result)
        self.assertNotIn(self.branch_a2, token.assigned_company_ids)

    def test_only_admins_share(self):
        token, _s = self.import_token()
        with self.assertRaises(AccessError):
            env = self.as_user(self.send_a)
            env["ksef.token.sharing"]._ksef_share(
                env["ksef.token"].browse(token.ids), self.fetch_a, self.env["res.company"]
            )
