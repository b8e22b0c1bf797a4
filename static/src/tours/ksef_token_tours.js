/**
 * Tours of the KSeF token wizards, started by tests/test_tour.py, which puts what a user
 * would have in hand in ``window.ksefTour`` before the tour starts:
 *   - ``token``: a token string as KSeF's taxpayer application shows it (import tour);
 *   - ``signerUrl``: a local stand-in for Profil Zaufany that signs the auth.xml it receives
 *     and answers the signed file (generate tour).
 * Not meant to be run from the interface.
 */
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";
import { inputFiles } from "@web/../tests/utils";

export const openKsefApp = () => [
    {
        content: "Open the apps menu",
        trigger: ".o_navbar_apps_menu button",
        run: "click",
    },
    {
        content: "Open the KSeF app",
        trigger: ".o_app[data-menu-xmlid='l10n_pl_ksef_token.ksef_menu_root']",
        run: "click",
    },
];

// The menus ask for the user's password first (Odoo's identity check)
export const confirmPassword = () => [
    {
        content: "Type the password in the security check",
        trigger: ".modal .o_field_widget[name=password] input",
        async run(helpers) {
            await helpers.edit(window.ksefTour.password);
        },
    },
    {
        content: "Confirm the password",
        trigger: ".modal .modal-footer button[name=run_check]",
        run: "click",
    },
];

// Sign the auth.xml the wizard of ``model`` offers, outside Odoo (window.ksefTour.signerUrl
// stands in for Profil Zaufany), and upload the signed file
export const signAndUpload = (model) => [
    {
        content: "Sign the offered auth.xml outside Odoo and upload the signed file",
        trigger: ".modal .o_field_widget[name=signed_file]",
        async run() {
            // The bytes behind the download link: the wizard's auth_request.
            const [wizard] = await rpc(`/web/dataset/call_kw/${model}/search_read`, {
                model,
                method: "search_read",
                args: [[["step", "=", "sign"]]],
                kwargs: { fields: ["auth_request", "challenge"], order: "id desc", limit: 1 },
            });
            const challenge = document.querySelector(
                ".modal .o_field_widget[name=challenge]"
            ).textContent.trim();
            if (!wizard || wizard.challenge !== challenge) {
                throw new Error("The wizard shown is not the one offering auth.xml");
            }
            const xml = Uint8Array.from(atob(wizard.auth_request), (c) => c.charCodeAt(0));
            const response = await fetch(window.ksefTour.signerUrl, {
                method: "POST",
                body: new Blob([xml], { type: "text/plain" }),
            });
            if (!response.ok) {
                throw new Error(`The signer answered ${response.status}`);
            }
            const signed = new File([await response.blob()], "auth-signed.xml", {
                type: "text/xml",
            });
            await inputFiles(".modal .o_field_widget[name=signed_file] input[type=file]", [
                signed,
            ]);
        },
    },
    {
        content: "The signed file is uploaded",
        trigger: ".modal .o_field_widget[name=signed_file] .o_clear_file_button",
    },
];

registry.category("web_tour.tours").add("l10n_pl_ksef_token_import_tour", {
    steps: () => [
        ...openKsefApp(),
        {
            content: "KSeF > Import Token",
            trigger: ".o_menu_sections [data-menu-xmlid='l10n_pl_ksef_token.ksef_token_import_menu']",
            run: "click",
        },
        ...confirmPassword(),
        {
            content: "Paste the token",
            trigger: ".modal .o_field_widget[name=token_text] input",
            async run(helpers) {
                await helpers.edit(window.ksefTour.token);
            },
        },
        {
            content: "Import it",
            trigger: ".modal .modal-footer button[name=action_import]",
            run: "click",
        },
        {
            content: "The token form shows the imported token",
            trigger: ".o_form_view:not(.modal .o_form_view) .o_field_widget[name=reference_number]",
            run() {
                const reference = window.ksefTour.token.split("|")[0];
                const shown = this.anchor.textContent.trim();
                if (shown !== reference) {
                    throw new Error(`The form shows ${shown}, not the token ${reference}`);
                }
            },
        },
        {
            content: "It is active",
            trigger: ".o_statusbar_status button.o_arrow_button_current[data-value=active]",
        },
    ],
});

registry.category("web_tour.tours").add("l10n_pl_ksef_token_generate_tour", {
    steps: () => [
        ...openKsefApp(),
        {
            content: "KSeF > Generate Token",
            trigger:
                ".o_menu_sections [data-menu-xmlid='l10n_pl_ksef_token.ksef_token_generate_menu']",
            run: "click",
        },
        ...confirmPassword(),
        {
            content: "Describe the token",
            trigger: ".modal .o_field_widget[name=description] input",
            run: "edit Odoo tour token",
        },
        {
            content: "Sign outside Odoo is the default authorization",
            trigger: ".modal .o_field_widget[name=auth_method] input[data-value=upload]:checked",
        },
        {
            content: "Next: download auth.xml",
            trigger: ".modal .modal-footer button[name=action_prepare_request]:contains(Next)",
            run: "click",
        },
        {
            content: "The request to sign is offered for download",
            trigger: ".modal .o_field_widget[name=auth_request] a.o_form_uri:contains(auth-)",
        },
        ...signAndUpload("ksef.token.generate"),
        {
            content: "Generate",
            trigger: ".modal .modal-footer button[name=action_generate]",
            run: "click",
        },
        {
            content: "The new token is active",
            trigger:
                ".o_form_view:not(.modal .o_form_view) .o_statusbar_status button.o_arrow_button_current[data-value=active]",
        },
        {
            content: "Its description is the one typed in the wizard",
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run() {
                const name = this.anchor.value;
                if (name !== "Odoo tour token") {
                    throw new Error(`The token is named ${name}`);
                }
            },
        },
    ],
});
