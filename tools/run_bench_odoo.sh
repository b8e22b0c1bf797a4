#!/usr/bin/env bash
# Benchmark of the Odoo token sync (bench/bench_odoo.py) in a throwaway database
# (BENCH_ODOO_DB, default ksef_bench_odoo), made fresh and dropped afterwards.
set -euo pipefail
build="$1"; db="${BENCH_ODOO_DB:-ksef_bench_odoo}"
conf="$build/odoo.conf"
VENV="${VENV:-$HOME/.cache/l10n_pl_ksef_token/venv}"
ODOO_SRC="${ODOO_SRC:-$HOME/src/odoo-18.0}"
py="$VENV/bin/python"
here="$(cd "$(dirname "$0")/.." && pwd)"

echo "[bench] installing l10n_pl_ksef_token in a fresh database $db" >&2
dropdb --if-exists "$db" 2>/dev/null || true
trap 'dropdb --if-exists "$db" 2>/dev/null || true' EXIT
"$py" "$ODOO_SRC/odoo-bin" -c "$conf" -d "$db" -i l10n_pl_ksef_token --without-demo=all \
    --stop-after-init --log-level=warn --http-port=0 2>&1 | grep -v "^$" | tail -n 30 >&2 || true
timeout 120 "$py" "$here/bench/bench_odoo.py" -c "$conf" -d "$db" "${@:2}"
