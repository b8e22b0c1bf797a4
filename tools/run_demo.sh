#!/usr/bin/env bash
# Serves Odoo with the addon in a demo database (created with sample data on first run,
# updated on later runs so code changes apply). Log in with admin / admin.
set -euo pipefail
build="$1"; db="$2"; port="$3"
conf="$build/odoo.conf"
VENV="${VENV:-$HOME/.cache/l10n_pl_ksef_token/venv}"
ODOO_SRC="${ODOO_SRC:-$HOME/src/odoo-18.0}"
py="$VENV/bin/python"
odoo=("$py" "$ODOO_SRC/odoo-bin" -c "$conf" -d "$db")
if psql -d "$db" -Atc "select state from ir_module_module where name='l10n_pl_ksef_token'" 2>/dev/null | grep -q installed; then
    echo "[demo] updating l10n_pl_ksef_token in $db" >&2
    "${odoo[@]}" -u l10n_pl_ksef_token --load-language=pl_PL --stop-after-init --log-level=warn
else
    echo "[demo] creating the demo database $db with sample data (about a minute)" >&2
    dropdb --if-exists "$db" 2>/dev/null || true
    "${odoo[@]}" -i l10n_pl_ksef_token --stop-after-init --log-level=warn
    # the demo users work in Polish: load Odoo's Polish terms for every installed module
    # (not at creation, where load-language would make Polish everyone's default language)
    "${odoo[@]}" --load-language=pl_PL --stop-after-init --log-level=warn
fi
echo "[demo] Odoo with l10n_pl_ksef_token: http://localhost:$port  (login admin / admin; Ctrl+C stops)" >&2
exec "${odoo[@]}" --db-filter="^$db\$" --http-port="$port" --log-level=info
