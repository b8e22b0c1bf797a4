/**
 * Tours of KSeF certificates, started by tests/test_tour_certificates.py (which puts the
 * password and a signer URL in ``window.ksefTour``): the request wizard signed outside Odoo,
 * the certificate list and form (Sync, Revoke), and the "Prepare for the token cut-off" view
 * with its buttons. Not meant to be run from the interface.
 */
import { registry } from "@web/core/registry";
import {
    confirmPassword,
    openKsefApp,
    signAndUpload,
} from "@l10n_pl_ksef_token/tours/ksef_token_tours";

const MAIN = ".o_action_manager > .o_action";
const menu = (xmlid) => `.o_menu_sections [data-menu-xmlid='l10n_pl_ksef_token.${xmlid}']`;
const success = [
    {
        content: "KSeF says it worked",
        trigger: ".o_notification:has(.o_notification_bar.bg-success)",
    },
    {
        content: "Close the notification",
        trigger: ".o_notification:has(.o_notification_bar.bg-success) .o_notification_close",
        run: "click",
    },
];

registry.category("web_tour.tours").add("l10n_pl_ksef_token_certificate_tour", {
    steps: () => [
        ...openKsefApp(),
        {
            content: "KSeF > Request Certificate",
            trigger: menu("ksef_certificate_request_menu"),
            run: "click",
        },
        ...confirmPassword(),
        {
            content: "Name the certificate",
            trigger: ".modal .o_field_widget[name=description] input",
            run: "edit Odoo certyfikat wycieczki",
        },
        {
            content: "An Authentication certificate is the default",
            trigger: ".modal .o_field_widget[name=certificate_type] input[data-value=Authentication]:checked",
        },
        {
            content: "Next: download auth.xml",
            trigger: ".modal .modal-footer button[name=action_prepare_request]",
            run: "click",
        },
        ...signAndUpload("ksef.certificate.request"),
        {
            content: "Check limits (signs in with the signed file; nothing is requested)",
            trigger: ".modal .modal-footer button[name=action_check_limits]",
            run: "click",
        },
        {
            content: "KSeF's limits are shown before anything is requested",
            trigger: ".modal .o_field_widget[name=limits_text]:contains(300)",
        },
        {
            content: "Request the certificate",
            trigger: ".modal .modal-footer button[name=action_request]",
            run: "click",
        },
        {
            content: "The new certificate is active",
            trigger:
                ".o_form_view .o_statusbar_status button.o_arrow_button_current[data-value=active]",
        },
        {
            content: "Sync from the form",
            trigger: ".o_form_view .o_form_statusbar button[name=action_ksef_sync]",
            run: "click",
        },
        ...success,
        {
            content: "KSeF > Certificates",
            trigger: menu("ksef_certificate_menu"),
            run: "click",
        },
        {
            content: "The list shows the certificate",
            trigger: ".o_list_view .o_data_row:contains(\"wycieczki\")",
        },
        {
            content: "Sync from the list",
            trigger: ".o_control_panel button[name=action_ksef_sync]",
            run: "click",
        },
        ...success,
        {
            content: "Open the certificate",
            trigger: ".o_list_view .o_data_row:contains(\"wycieczki\") td.o_data_cell[name=name]",
            run: "click",
        },
        {
            content: "Download the private key (once)",
            trigger: ".o_form_view .o_form_statusbar button[name=action_ksef_download_key]",
            run: "click",
        },
        {
            content: "Confirm the warning",
            trigger: ".modal-footer button.btn-primary:contains(Ok)",
            run: "click",
        },
        {
            content: "Choose the file's password",
            trigger: ".modal .o_field_widget[name=password] input",
            run: "edit dobre-haslo-1",
        },
        {
            content: "Repeat it",
            trigger: ".modal .o_field_widget[name=password_confirm] input",
            run: "edit dobre-haslo-1",
        },
        {
            content: "Make the PKCS#12 file",
            trigger: ".modal .modal-footer button[name=action_export]",
            run: "click",
        },
        {
            content: "The file is offered for download",
            trigger: ".modal .o_field_widget[name=pkcs12_file] a:contains(.p12)",
        },
        {
            content: "Close",
            trigger: ".modal .modal-footer button:contains(Close)",
            run: "click",
        },
        {
            content: "The download button is gone (once only)",
            trigger: ".o_form_view .o_form_statusbar:not(:has(button[name=action_ksef_download_key]))",
        },
        {
            content: "Revoke it",
            trigger: ".o_form_view .o_form_statusbar button[name=action_ksef_revoke_form]",
            run: "click",
        },
        // (no password asked again: the one of the request counts for 10 minutes)
        {
            content: "Reason: superseded",
            trigger: ".modal .o_field_widget[name=reason] input[data-value=Superseded]",
            run: "click",
        },
        {
            content: "Confirm the revocation",
            trigger: ".modal .modal-footer button[name=action_revoke]",
            run: "click",
        },
        {
            content: "The result says it was revoked",
            trigger: ".modal .o_field_widget[name=result]:contains(revoked)",
        },
        {
            content: "Close the result",
            trigger: ".modal .modal-footer button:contains(Close)",
            run: "click",
        },
    ],
});

registry.category("web_tour.tours").add("l10n_pl_ksef_token_cutoff_tour", {
    steps: () => [
        ...openKsefApp(),
        {
            content: "KSeF > Prepare for the Token Cut-off",
            trigger: menu("ksef_cutoff_readiness_menu"),
            run: "click",
        },
        {
            content: "One line per job: send, fetch, administer",
            trigger: `${MAIN} .o_field_widget[name=line_ids] .o_data_row:eq(2)`,
        },
        {
            content: "Request a certificate from the view",
            trigger: `${MAIN} .o_form_statusbar button[name=action_request_certificate]`,
            run: "click",
        },
        ...confirmPassword(),
        {
            content: "The request wizard opens",
            trigger: ".modal .o_field_widget[name=certificate_type]",
        },
        {
            content: "Not now",
            trigger: ".modal .modal-footer button:contains(Cancel)",
            run: "click",
        },
        {
            content: "Test the certificate sign-in",
            trigger: `${MAIN} .o_form_statusbar button[name=action_test_certificates]`,
            run: "click",
        },
        {
            content: "The test says the certificate signed in",
            trigger: `${MAIN} .o_field_widget[name=test_message]:contains("signed in")`,
        },
        {
            content: "Every job can sign in with a tested certificate",
            trigger: `${MAIN} .alert-success:visible`,
        },
        {
            content: "Use certificates first",
            trigger: `${MAIN} .o_form_statusbar button[name=action_certificates_first]`,
            run: "click",
        },
        {
            content: "The order is now certificates first",
            trigger: `${MAIN} .o_field_widget[name=auth_order]:contains("Certificates, then tokens")`,
        },
        {
            content: "Refresh",
            trigger: `${MAIN} .o_form_statusbar button[name=action_refresh]`,
            run: "click",
        },
        {
            content: "The next fetch run uses the certificate",
            trigger: `${MAIN} .o_field_widget[name=line_ids] .o_data_row td[name=next_credential]:contains("Odoo certyfikat")`,
        },
    ],
});
