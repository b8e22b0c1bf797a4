from unittest.mock import patch

import odoo
from odoo.tests import new_test_user, tagged  # noqa: F401
from odoo.tests.common import TransactionCase

from ..ksef import identifiers as ksef_ids
from ..ksef import tokens as ksef_tokens
from ..ksef.simulator import KsefSimulator, SimulatorServer, fast_test_config

NIP_A = "5265877635"
NIP_B = "7740001454"
BRANCH_A1 = ksef_ids.make_internal_id(NIP_A, "0001")  # 5265877635-00017
BRANCH_A2 = ksef_ids.make_internal_id(NIP_A, "0002")

GROUP_FETCH = "l10n_pl_ksef_token.group_ksef_fetch"
GROUP_SEND = "l10n_pl_ksef_token.group_ksef_send"
GROUP_ADMIN = "l10n_pl_ksef_token.group_ksef_admin"


def start_http_simulator(cls, environments=("test",), **config):
    """Serve a fresh KSeF simulator over HTTP on 127.0.0.1 for the test class ``cls`` and point
    the ``environments`` (default: ``test``) at it; both are undone when the class is done.

    When ``cls`` already serves one (a base class of the test case started it) and no special
    ``config`` is asked for, that one is kept."""
    if not config and "server" in cls.__dict__:
        return
    cls.sim = KsefSimulator(fast_test_config(**config))
    cls.server = SimulatorServer(cls.sim)
    cls.server.start()
    cls.addClassCleanup(cls.server.stop)
    patcher = patch.dict(
        odoo.tools.config.options,
        {f"ksef_url_{environment}": cls.server.base_url for environment in environments},
    )
    patcher.start()
    cls.addClassCleanup(patcher.stop)


def start_http_sandbox(cls):
    """Serve the Sandbox's own simulator (the one ``make_client('sandbox')`` uses in this
    process) over HTTP for the test class ``cls`` and point the Sandbox environment at it, as
    a browser and the HTTP client of the other workers would reach it; undone when the class
    is done. Sets ``cls.sandbox``."""
    from ..ksef.simulator import sandbox

    cls.sandbox = sandbox.get_sandbox()
    cls.sandbox_server = SimulatorServer(cls.sandbox)
    cls.sandbox_server.start()
    cls.addClassCleanup(cls.sandbox_server.stop)
    patcher = patch.dict(
        odoo.tools.config.options, {"ksef_url_sandbox": cls.sandbox_server.base_url}
    )
    patcher.start()
    cls.addClassCleanup(patcher.stop)


def start_tour_or_fail(case, *args, **kwargs):
    """``case.start_tour(...)``, but a headless Chromium that could not start or connect (Odoo
    then skips the test, e.g. on a busy machine) is tried once more and then fails: a tour
    that did not run must never pass as skipped."""
    import unittest

    for attempt in (1, 2):
        try:
            return case.start_tour(*args, **kwargs)
        except unittest.SkipTest as e:
            if attempt == 2:
                raise AssertionError(f"the browser tour could not run: {e}") from None


def token_string(context):
    """A fresh, well-formed KSeF 2.0 token string for a ContextIdentifier that KSeF never
    issued (its import is refused)."""
    return ksef_tokens.new_token(context).token


#: permissions of the tokens the helpers have KSeF issue, per wizard token type
HELPER_PERMISSIONS = {
    "A": ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage"),
    "W": ("InvoiceWrite",),
    "P": ("InvoiceRead",),
    "custom": ("InvoiceRead", "InvoiceWrite"),
}


class KsefCase(TransactionCase):
    """Two companies with their own NIPs, the first with two branches, and users per KSeF
    group in each. Tokens are made through the import wizard, as a user would."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Company = cls.env["res.company"]
        cls.company_a = Company.create({"name": "Firma A", "vat": f"PL{NIP_A}"})
        cls.branch_a1 = Company.create(
            {
                "name": "Firma A – Kraków",
                "parent_id": cls.company_a.id,
                "ksef_internal_id": BRANCH_A1,
            }
        )
        cls.branch_a2 = Company.create(
            {
                "name": "Firma A – Gdańsk",
                "parent_id": cls.company_a.id,
                "ksef_internal_id": BRANCH_A2,
            }
        )
        cls.company_b = Company.create({"name": "Firma B", "vat": f"PL{NIP_B}"})
        a_all = cls.company_a | cls.branch_a1 | cls.branch_a2

        def user(login, groups, company, companies):
            return new_test_user(
                cls.env,
                login=login,
                groups=groups,
                company_id=company.id,
                company_ids=[(6, 0, companies.ids)],
            )

        cls.admin_a = user("adm_a", f"base.group_user,{GROUP_ADMIN}", cls.company_a, a_all)
        cls.admin_b = user("adm_b", f"base.group_user,{GROUP_ADMIN}", cls.company_b, cls.company_b)
        cls.send_a = user("send_a", f"base.group_user,{GROUP_SEND}", cls.company_a, cls.company_a)
        cls.fetch_a = user(
            "fetch_a", f"base.group_user,{GROUP_FETCH}", cls.company_a, cls.company_a
        )
        cls.fetch_a1 = user(
            "fetch_a1", f"base.group_user,{GROUP_FETCH}", cls.branch_a1, cls.branch_a1
        )
        cls.send_b = user("send_b", f"base.group_user,{GROUP_SEND}", cls.company_b, cls.company_b)
        cls.plain_a = user("plain_a", "base.group_user", cls.company_a, cls.company_a)
        cls.perm = {p.name: p for p in cls.env["ksef.permission"].search([])}
        # KSeF (the simulator) issues the tokens the helpers import; every environment but the
        # in-process Sandbox points at it, so imports are verified over HTTP
        start_http_simulator(cls, environments=("test", "demo", "prod"))

    # -- helpers ---------------------------------------------------------------------------

    def import_wizard(self, user=None, **values):
        user = user or self.admin_a
        vals = {
            "scope": "company",
            "company_id": self.company_a.id,
            "environment": "test",
            "token_type": "custom",
            "description": "Token for the tests",
        }
        vals.update(values)
        env = self.env(user=user, context={"allowed_company_ids": user.company_ids.ids})
        return env["ksef.token.import"].create(vals)

    def import_token(self, user=None, token=None, context=None, **values):
        """Import a token through the wizard; returns (ksef.token, token string). Without
        ``token``, KSeF (the simulator) first issues one for ``context`` (default: company A's
        NIP) with the permissions chosen in ``values`` (``permission_ids`` or
        ``token_type``), as the Ministry's web application would."""
        if token is None:
            context = context or ksef_ids.ContextIdentifier.nip(NIP_A)
            token = self.issued_token(context, self.helper_permissions(values))
        wizard = self.import_wizard(user=user, token_text=token, **values)
        action = wizard.action_import()
        return self.env["ksef.token"].browse(action["res_id"]), token

    def helper_permissions(self, values):
        commands = values.get("permission_ids")
        if commands:
            ids = [i for command in commands if command[0] == 6 for i in command[2]]
            names = self.env["ksef.permission"].browse(ids).mapped("name")
            if names:
                return tuple(names)
        return HELPER_PERMISSIONS[values.get("token_type", "custom")]

    def issued_token(self, context=None, permissions=("InvoiceRead", "InvoiceWrite"), **kw):
        """A token string KSeF (the simulator) issued for ``context``, authored by its NIP."""
        context = context or ksef_ids.ContextIdentifier.nip(NIP_A)
        author = context.value[:10]
        return self.sim.create_token(context, author, list(permissions), **kw)

    def ciphertext_of(self, token):
        self.env.flush_all()
        self.env.cr.execute("SELECT secret_ciphertext FROM ksef_token WHERE id = %s", [token.id])
        return self.env.cr.fetchone()[0]
