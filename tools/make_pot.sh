#!/usr/bin/env bash
# Regenerates i18n/l10n_pl_ksef_token.pot from a fresh database (no demo data), then merges
# it into every i18n/*.po with msgmerge when available, so translators see new strings.
set -euo pipefail
VENV="${VENV:-$HOME/.cache/l10n_pl_ksef_token/venv}"
ODOO_SRC="${ODOO_SRC:-$HOME/src/odoo-18.0}"
build="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
db=ksef_pot
dropdb --if-exists "$db" 2>/dev/null || true
"$VENV/bin/python" "$ODOO_SRC/odoo-bin" -c "$build/odoo.conf" -d "$db" -i l10n_pl_ksef_token \
    --without-demo=all --stop-after-init --log-level=warn
"$VENV/bin/python" "$ODOO_SRC/odoo-bin" -c "$build/odoo.conf" -d "$db" --modules=l10n_pl_ksef_token \
    --i18n-export="$here/i18n/l10n_pl_ksef_token.pot" --log-level=warn
dropdb --if-exists "$db" 2>/dev/null || true
if command -v msgmerge >/dev/null 2>&1; then
    for po in "$here"/i18n/*.po; do
        [ -e "$po" ] && msgmerge --quiet --update --no-fuzzy-matching --backup=none "$po" "$here/i18n/l10n_pl_ksef_token.pot"
    done
fi
echo "[pot] i18n/l10n_pl_ksef_token.pot updated" >&2
