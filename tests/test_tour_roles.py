"""Browser tours (headless Chromium), one per KSeF role, that click what its people click.

Each tour (``static/src/tours/ksef_role_tours.js``) opens every KSeF menu the role has,
presses every button the role sees on the token list (header buttons and the Actions menu,
with and without a selection), on the token form and in every wizard (import, generate,
revoke, share, the Sandbox practice-token dialog), types into every many2one picker and
chooses a suggestion, and checks that no error dialog appears and the expected result is
visible. KSeF is the local simulator over HTTP (and the Sandbox simulator for practice
tokens). The paths a tour cannot reach (KSeF failing) are tested over HTTP below, as the
browser calls them.

The admin tour runs in any language: its selectors use name attributes, data-menu-xmlid,
data-value and icons, and the names of the addon's server actions come from the user's
language. :meth:`TestRoleTours.addon_english_labels` lists the addon's English labels that
must not be visible in another language, and :meth:`TestRoleTours.tour` passes them to the
tour, which fails when one of them was on a page it collected.
"""

import json
import re
from unittest.mock import patch

from lxml import etree

import odoo
from odoo.tests import HttpCase, tagged

from ..ksef.identifiers import ContextIdentifier
from .common import GROUP_ADMIN, NIP_B, start_http_sandbox, start_tour_or_fail  # noqa: F401
from .ksef_sim_case import CTX_A, KsefSimCase

MODULE = "l10n_pl_ksef_token"

#: labels that are the same in Polish (names, acronyms), never reported as English
SAME_IN_POLISH = {"KSeF", "NIP", "Token", "Tokeny", "XAdES", "A", "W", "P", "Sandbox"}


@tagged("post_install", "-at_install")
class TestRoleTours(KsefSimCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Read every manifest now, in this thread (see test_tour.py: python/cpython#106905).
        assert odoo.http.root.statics
        # the Sandbox (practice tokens) served over real HTTP
        start_http_sandbox(cls)

    def setUp(self):
        super().setUp()
        self.sandbox.reset()
        self.sandbox.config.rate_limits = False
        self.sandbox.config.auth_delay = 0.0
        self.sandbox.config.token_activation_delay = 0.0
        self.token_a, _ = self.import_token(token_type="A", description="Tour token A")
        self.token_revoke, _ = self.import_token(token_type="W", description="Tour token revoke")
        self.token_b, _ = self.import_token(
            user=self.admin_b,
            context=ContextIdentifier.nip(NIP_B),
            token_type="A",
            company_id=self.company_b.id,
            description="Tour token B",
        )
        # names a person types into a picker (test users are named after login and groups)
        for user, name in (
            (self.admin_a, "Anna Admin A"),
            (self.admin_b, "Bartek Admin B"),
            (self.send_a, "Sara Send A"),
            (self.send_b, "Sebastian Send B"),
            (self.fetch_a, "Filip Fetch A"),
            (self.sysadmin_a, "Sylwia Sys A"),
        ):
            user.name = name
        # the Send and Fetch users of company A use the tokens assigned to their company
        self.env["ksef.token.sharing"]._ksef_share(
            self.token_a, self.env["res.users"], self.company_a
        )
        self.env["ksef.token.sharing"]._ksef_share(
            self.token_b, self.env["res.users"], self.company_b
        )

    # -- running a tour --------------------------------------------------------------------

    def tour_data(self, user, **data):
        env = self.env(context={"lang": user.lang or "en_US"})
        labels = {
            "revoke": env.ref(f"{MODULE}.action_server_ksef_token_revoke").name,
            "share": env.ref(f"{MODULE}.action_server_ksef_token_share").name,
        }
        values = {
            "tokenA": self.token_a.name,
            "tokenRevoke": self.token_revoke.name,
            "tokenB": self.token_b.name,
            "companyA": self.company_a.name,
            "branchA": "Kraków",
            "companyB": self.company_b.name,
            # the operator picker offers the users of the company whose KSeF rights cover
            # the token type (the wizards' default, custom, needs both Send and Fetch)
            "operatorTyped": "Admin",
            "operator": self.admin_a.name,
            "notOperator": self.admin_b.name,
            "shareTyped": "Sys",
            "shareUser": self.sysadmin_a.name,
            "notShareUser": self.admin_b.name,
            # new_test_user's password: the login, padded to 8 characters with "x"
            "password": user.login.ljust(8, "x"),
            "labels": labels,
            "english": self.addon_english_labels(user.lang) if user.lang != "en_US" else [],
        }
        values.update(data)
        return values

    def tour(self, name, user, **data):
        """Run tour ``name`` as ``user``, with the data of :meth:`tour_data` (updated with
        ``data``) in ``window.ksefTour``."""
        options = {"stepDelay": 0, "keepWatchBrowser": False, "debug": False, "startUrl": "/odoo"}
        tour_data = json.dumps(self.tour_data(user, **data))
        code = f"window.ksefTour = {tour_data}; odoo.startTour({name!r}, {json.dumps(options)})"
        start_tour_or_fail(self, "/odoo", name, login=user.login, code=code, timeout=180)

    # -- the addon's English labels, for the tours in another language ---------------------

    def addon_english_labels(self, lang):
        """The addon's user-facing English labels (menus, actions, field labels, selection
        values, button and page strings of its views) that ``lang`` shows differently, or
        not at all: what a tour in ``lang`` must not find on a page. A label ``lang`` leaves
        as it is (it has no translation, or the translation is the English text) counts as
        English unless it is a name or acronym (``SAME_IN_POLISH``)."""
        en = self.env(context={"lang": "en_US"})
        labels = set()
        data = en["ir.model.data"].search([("module", "=", MODULE)])
        by_model = {}
        for row in data:
            by_model.setdefault(row.model, []).append(row.res_id)
        labels.update(en["ir.ui.menu"].browse(by_model.get("ir.ui.menu", [])).mapped("name"))
        for model in ("ir.actions.act_window", "ir.actions.server"):
            labels.update(en[model].browse(by_model.get(model, [])).mapped("name"))
        models = en["ir.model"].browse(by_model.get("ir.model", []))
        for field in en["ir.model.fields"].search(
            [("model_id", "in", models.ids), ("name", "not in", ("id", "display_name"))]
        ):
            labels.add(field.field_description)
            labels.update(field.selection_ids.mapped("name"))
        for view in en["ir.ui.view"].browse(by_model.get("ir.ui.view", [])):
            for node in etree.fromstring(view.arch_db.encode()).iter():
                for attribute in ("string", "placeholder"):
                    if node.get(attribute):
                        labels.add(node.get(attribute))
        labels = {label.strip() for label in labels if label and label.strip()}
        # only the addon's own strings (its .pot): Odoo's own labels on the same pages are
        # translated by Odoo's modules; a term pl.po translates as itself ("Status",
        # "Operator") is Polish too
        ours = set(self.translated_terms("", template=True))
        translated = self.translated_terms(lang)
        return sorted(
            label
            for label in labels
            if label in ours
            and label not in SAME_IN_POLISH
            and not re.fullmatch(r"[\W\d_]*", label)
            and label not in translated
        )

    def translated_terms(self, lang, template=False):
        """{English term: translation} of the addon's .po file for ``lang`` (with
        ``template``: every term of its .pot, translated or not)."""
        from odoo.tools import file_open
        from odoo.tools.translate import PoFileReader

        code = lang.split("_")[0]
        terms = {}
        names = (
            [f"{MODULE}/i18n/{MODULE}.pot"]
            if template
            else [f"{MODULE}/i18n/{lang}.po", f"{MODULE}/i18n/{code}.po"]
        )
        for name in names:
            try:
                with file_open(name, "rb") as po:
                    for entry in PoFileReader(po):
                        if template or entry.get("value"):
                            terms.setdefault(entry["src"], entry.get("value"))
            except FileNotFoundError:
                continue
        return terms

    # -- the tours, one per role -----------------------------------------------------------

    def test_admin_tour(self):
        self.tour("l10n_pl_ksef_token_role_admin_tour", self.admin_a)
        # what the clicks did, as KSeF and the database see it
        practice = self.env["ksef.token"].search([("name", "=", "Tour practice token")])
        self.assertEqual(len(practice), 1)
        self.assertEqual((practice.environment, practice.state), ("sandbox", "active"))
        self.assertEqual(practice.company_id, self.company_a)
        self.token_revoke.invalidate_recordset()
        self.assertEqual(self.token_revoke.state, "revoked")
        self.assertFalse(self.token_revoke.active)
        self.assertFalse(self.token_revoke.has_secret)
        revoked = {t["referenceNumber"]: t["status"] for t in self.sim.tokens_in(CTX_A)}
        self.assertNotEqual(revoked[self.token_revoke.reference_number], "Active")
        self.token_a.invalidate_recordset()
        self.assertEqual(self.token_a.state, "active")
        self.assertEqual(self.token_a.assigned_company_ids, self.company_a)
        self.assertNotIn(self.sysadmin_a, self.token_a.user_ids)  # shared, then unshared
        # the generate wizard's signing step was reached: KSeF gave challenges, no token
        self.assertFalse(self.env["ksef.token"].search([("origin", "=", "generated")]))
        self.assertFalse(self.orphans())

    def test_admin_tour_in_polish(self):
        """The same clicks as a Polish KSeF administrator: every page the tour shows must be
        free of the addon's English labels (``addon_english_labels``)."""
        self.env["res.lang"]._activate_lang("pl_PL")
        installed = self.env["ir.module.module"].search([("state", "=", "installed")])
        installed._load_module_terms(installed.mapped("name"), ["pl_PL"])
        self.admin_a.lang = "pl_PL"
        english = self.addon_english_labels("pl_PL")
        self.tour("l10n_pl_ksef_token_role_admin_tour", self.admin_a)
        practice = self.env["ksef.token"].search([("name", "=", "Tour practice token")])
        self.assertEqual((practice.environment, practice.state), ("sandbox", "active"))
        # the check had something to look for: labels that pl.po would have to translate
        self.assertTrue(self.addon_english_labels("xx_XX"))
        self.assertFalse(english, "labels pl.po leaves in English")

    def test_send_tour(self):
        self.tour("l10n_pl_ksef_token_role_send_tour", self.send_a)

    def test_fetch_tour(self):
        self.tour("l10n_pl_ksef_token_role_fetch_tour", self.fetch_a)

    def test_admin_of_company_b_tour(self):
        self.tour(
            "l10n_pl_ksef_token_role_admin_b_tour",
            self.admin_b,
            operator=self.admin_b.name,
            notOperator=self.admin_a.name,
            shareTyped="Admin",
            shareUser=self.admin_b.name,
            notShareUser=self.admin_a.name,
        )
        self.token_b.invalidate_recordset()
        self.assertIn(self.admin_b, self.token_b.user_ids)
        self.assertEqual(self.token_a.user_ids, self.env["res.users"])

    # -- what a tour cannot reach: KSeF failing, as the browser calls it -------------------

    def call_button(self, user, method, ids, **context):
        """POST the call of a list header button as the web client does (selected ids)."""
        self.authenticate(user.login, user.login.ljust(8, "x"))
        return self.url_open(
            "/web/dataset/call_button",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {
                        "model": "ksef.token",
                        "method": method,
                        "args": [ids],
                        "kwargs": {"context": {"allowed_company_ids": user.company_id.ids}},
                    },
                }
            ),
            headers={"Content-Type": "application/json"},
        ).json()

    def test_sync_button_with_ksef_unreachable_says_what_to_do(self):
        # nothing listens on this port: KSeF cannot be reached
        with patch.dict(odoo.tools.config.options, {"ksef_url_test": "http://127.0.0.1:9"}):
            answer = self.call_button(self.admin_a, "action_ksef_sync", self.token_a.ids)
        if "error" in answer:
            # refused with a sentence for a person, not a crash of the button
            error = answer["error"]["data"]
            self.assertEqual(error["name"], "odoo.exceptions.UserError", error)
            self.assertIn("KSeF", error["message"])
        else:
            # not "Synced with KSeF": a warning naming the company, saying what to do
            action = answer["result"]
            self.assertEqual(action["tag"], "display_notification")
            self.assertIn(action["params"]["type"], ("warning", "danger"))
            self.assertIn(self.company_a.name, action["params"]["message"])
        self.token_a.invalidate_recordset()
        self.assertEqual(self.token_a.state, "active")

    def test_send_user_cannot_press_admin_buttons_over_http(self):
        for method in ("action_ksef_sync", "action_ksef_open_import", "action_ksef_open_generate"):
            answer = self.call_button(self.send_a, method, self.token_a.ids)
            if "result" in answer:
                # the password is asked first; no wizard opens
                self.assertEqual(answer["result"]["res_model"], "res.users.identitycheck", method)
                continue
            self.assertIn(
                answer["error"]["data"]["name"],
                ("odoo.exceptions.AccessError", "odoo.exceptions.UserError"),
                method,
            )

    def test_english_labels_for_a_tour_in_another_language(self):
        # a language the addon has no translation for: its labels all stay English
        untranslated = self.addon_english_labels("xx_XX")
        for label in ("Import Token", "Generate Token", "Revoke in KSeF", "Share / Unshare"):
            self.assertIn(label, untranslated)
        self.assertNotIn("KSeF", untranslated)  # a name, the same in every language
        # Polish: what pl.po translates is not reported, what it leaves is
        translated = self.translated_terms("pl_PL")
        polish = self.addon_english_labels("pl_PL")
        for label, translation in translated.items():
            if translation != label:
                self.assertNotIn(label, polish)
        self.assertLess(len(polish), len(untranslated))
