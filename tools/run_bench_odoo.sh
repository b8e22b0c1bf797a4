#!/usr/bin/env bash
# Runs an Odoo benchmark script (bench/<name>.py) in a throwaway database made fresh for it
# and dropped afterwards:  run_bench_odoo.sh BUILD bench/bench_odoo.py [DB] [args...]
set -euo pipefail
build="$1"; script="$2"; db="${3:-ksef_$(basename "$script" .py)}"
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
# bounded: a benchmark stops by itself
timeout 300 "$py" "$here/$script" -c "$conf" -d "$db" "${@:4}"
