#!/usr/bin/env bash
# Runs the test suites in ONE pytest process so that its closing line counts every test:
#   all    the pure-Python KSeF package tests and the Odoo tests
#   tests  the Odoo tests only
#   PATH.. any other words: those test paths (relative to the checkout, e.g. tests/test_sync.py)
# The Odoo tests need the addon installed in a database first: a fresh database is made each
# run so that no state leaks from an earlier run. Fails (never skips) when Odoo is missing.
set -euo pipefail
build="$(cd "$1" && pwd)"; db="$2"; what="${3:-all}"
shift 2; [ "$#" -gt 0 ] && shift; extra=("$@")
conf="$build/odoo.conf"
# Several runs at once (one per database) need their own HTTP port for the browser tours.
if [ -n "${TEST_HTTP_PORT:-}" ]; then
    runconf="$(mktemp)"; trap 'rm -f "$runconf"' EXIT
    { cat "$conf"; echo "http_port = $TEST_HTTP_PORT"; } > "$runconf"; chmod 600 "$runconf"
    conf="$runconf"
fi
VENV="${VENV:-$HOME/.cache/l10n_pl_ksef_token/venv}"
ODOO_SRC="${ODOO_SRC:-$HOME/src/odoo-18.0}"
py="$VENV/bin/python"
addon="$build/addons/l10n_pl_ksef_token"

"$py" -c 'import odoo.release as r; assert r.version_info[:2] == (18, 0), r.version' \
    || { echo "[test] ERROR: Odoo 18.0 is not importable from $VENV (ODOO_SRC=$ODOO_SRC)" >&2; exit 1; }

echo "[test] installing l10n_pl_ksef_token in a fresh database $db" >&2
dropdb --if-exists "$db" 2>/dev/null || true
"$py" "$ODOO_SRC/odoo-bin" -c "$conf" -d "$db" -i l10n_pl_ksef_token --without-demo=all \
    --stop-after-init --log-level=warn --http-port=0 2>&1 | grep -v "^$" | tail -n 30 >&2 || true
"$py" - "$conf" "$db" <<'PY' || { echo "[test] ERROR: the addon did not install; see the log above" >&2; exit 1; }
import sys, odoo
odoo.tools.config.parse_config(["-c", sys.argv[1], "-d", sys.argv[2]])
from odoo.modules.registry import Registry
with Registry(sys.argv[2]).cursor() as cr:
    cr.execute("SELECT state FROM ir_module_module WHERE name='l10n_pl_ksef_token'")
    row = cr.fetchone()
    assert row and row[0] == "installed", row
PY

# Collect through the addons directory so that pytest-odoo names the test modules
# odoo.addons.l10n_pl_ksef_token.* whatever this checkout's directory is called.
paths=(l10n_pl_ksef_token/tests)
[ "$what" = all ] && paths=(l10n_pl_ksef_token/ksef/tests l10n_pl_ksef_token/tests)
if [ "$what" != all ] && [ "$what" != tests ]; then
    paths=("l10n_pl_ksef_token/$what")
    for p in "${extra[@]}"; do paths+=("l10n_pl_ksef_token/$p"); done
fi
cd "$build/addons"
set +e
"$py" -m pytest -q -p no:cacheprovider --rootdir=. \
    --odoo-config="$conf" --odoo-database="$db" --odoo-http "${paths[@]}"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "[test] ERROR: pytest collected no test" >&2
fi
exit "$rc"
