{
    "name": "KSeF Tokens (Poland)",
    "summary": "Keep KSeF 2.0 authorization tokens safe in Odoo: import, generate, sync, "
    "revoke and share them, with access rights that follow their A/W/P scopes",
    "version": "18.0.1.0.0",
    "development_status": "Alpha",
    "category": "Accounting/Localizations/EDI",
    "website": "https://github.com/OCA/l10n-poland",
    "author": "l10n_pl_ksef_token developers, Odoo Community Association (OCA)",
    "maintainers": [],
    "license": "LGPL-3",
    "application": True,
    "installable": True,
    "external_dependencies": {"python": ["cryptography", "lxml", "requests", "signxml"]},
    "depends": ["base_setup", "mail", "certificate"],
    "data": [
        "security/ksef_security.xml",
        "security/ir.model.access.csv",
        "data/ksef_permission_data.xml",
        "views/ksef_token_views.xml",
        "views/ksef_token_import_views.xml",
        "views/ksef_token_generate_views.xml",
        "views/res_config_settings_views.xml",
        "views/res_company_views.xml",
    ],
    "demo": [
        "demo/ksef_demo.xml",
    ],
}
