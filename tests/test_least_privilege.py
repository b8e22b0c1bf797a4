"""The session service picks, within each level, the token with the fewest permissions."""

from odoo.tests import tagged

from .session_common import CTX_A1, KsefSessionCase

ADMIN = ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage")


@tagged("post_install", "-at_install")
class TestLeastPrivilege(KsefSessionCase):
    def test_fetch_uses_p_token_administer_uses_a_token(self):
        # the A token is older: without least privilege it would be chosen first
        token_a = self.sim_token(ADMIN, description="Administrator token")
        token_p = self.sim_token(("InvoiceRead",), description="Fetch token")
        with self.get_client("fetch") as session:
            self.assertEqual(session.token, token_p)
        with self.get_client("administer") as session:
            self.assertEqual(session.token, token_a)
        # a W+P token is still preferred over the A token for sending
        token_wp = self.sim_token(("InvoiceRead", "InvoiceWrite"), description="Send token")
        with self.get_client("send") as session:
            self.assertEqual(session.token, token_wp)

    def test_levels_come_before_privilege(self):
        """A branch's A token is used for the branch before the company's P token: the
        documented order of levels stays; least privilege orders within a level."""
        company_p = self.sim_token(("InvoiceRead",), description="Company fetch")
        branch_a = self.sim_token(
            ADMIN,
            context=CTX_A1,
            description="Branch admin",
            scope="branch",
            branch_id=self.branch_a1.id,
        )
        branch_p = self.sim_token(
            ("InvoiceRead",),
            context=CTX_A1,
            description="Branch fetch",
            scope="branch",
            branch_id=self.branch_a1.id,
        )
        with self.get_client("fetch", company=self.branch_a1) as session:
            self.assertEqual(session.token, branch_p)
        branch_p.active = False
        with self.get_client("fetch", company=self.branch_a1) as session:
            self.assertEqual(session.token, branch_a)
        with self.get_client("fetch") as session:
            self.assertEqual(session.token, company_p)
