#!/usr/bin/env bash
# Writes .build/odoo.conf (addons path, database access, the token encryption key) and the
# addons directory in which this checkout appears under its module name. Idempotent: the
# encryption key is generated once and then kept, so existing demo secrets stay readable.
set -euo pipefail
VENV="${VENV:-$HOME/.cache/l10n_pl_ksef_token/venv}"
ODOO_SRC="${ODOO_SRC:-$HOME/src/odoo-18.0}"
build="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$build/addons" "$build/data"
ln -sfn "$here" "$build/addons/l10n_pl_ksef_token"

keyfile="$build/ksef_token.key"
if [ ! -s "$keyfile" ]; then
    (umask 077; "$VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > "$keyfile")
fi

# Odoo refuses the "postgres" role; use the current user's role, creating it when PostgreSQL
# only knows "postgres" (fresh Debian/Ubuntu machine, peer or trust authentication).
dbuser="${PGUSER:-$(id -un)}"
if ! psql -U "$dbuser" -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    echo "[config] creating PostgreSQL role $dbuser" >&2
    psql -U postgres -d postgres -c "CREATE ROLE \"$dbuser\" LOGIN CREATEDB" >/dev/null 2>&1 \
        || sudo -u postgres createuser --createdb "$dbuser" \
        || { echo "[config] ERROR: cannot reach PostgreSQL as $dbuser; create that role (createuser --createdb $dbuser)" >&2; exit 1; }
fi

conf="$build/odoo.conf"
umask 077
cat > "$conf" <<CONF
[options]
addons_path = $ODOO_SRC/odoo/addons,$ODOO_SRC/addons,$build/addons
data_dir = $build/data
db_host = False
db_port = False
db_user = $dbuser
db_password = False
list_db = True
without_demo = False
log_level = warn
ksef_token_key = $(cat "$keyfile")
CONF
