#!/usr/bin/env bash
# Idempotent set-up of everything `make demo` and `make test` need:
#   - an Odoo 18.0 source tree   (ODOO_SRC, default ~/src/odoo-18.0; cloned from upstream when absent)
#   - a virtualenv with Odoo's pinned requirements and this addon's dependencies (VENV)
# Each step is skipped when its result is already there, so a second run costs seconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_SRC="${ODOO_SRC:-$HOME/src/odoo-18.0}"
VENV="${VENV:-$HOME/.cache/l10n_pl_ksef_token/venv}"
PYTHON="${PYTHON:-}"
ODOO_GIT_URL="${ODOO_GIT_URL:-https://github.com/odoo/odoo.git}"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. Odoo source -----------------------------------------------------------
if [ ! -f "$ODOO_SRC/odoo-bin" ]; then
    log "no Odoo 18 source tree at $ODOO_SRC; cloning branch 18.0 from $ODOO_GIT_URL"
    mkdir -p "$(dirname "$ODOO_SRC")"
    if ! git clone --depth 1 --branch 18.0 "$ODOO_GIT_URL" "$ODOO_SRC"; then
        die "could not get Odoo 18.0. Put an Odoo 18.0 checkout at $ODOO_SRC or run with ODOO_SRC=/path/to/odoo-18.0"
    fi
fi
grep -q "version_info = (18, 0" "$ODOO_SRC/odoo/release.py" \
    || die "$ODOO_SRC is not an Odoo 18.0 tree (odoo/release.py)"

# --- 2. Python ------------------------------------------------------------------
if [ -z "$PYTHON" ]; then
    for candidate in python3.11 python3.12 python3.10 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then
            ver=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
            case "$ver" in 3.10|3.11|3.12) PYTHON="$candidate"; break;; esac
        fi
    done
fi
[ -n "$PYTHON" ] || die "Odoo 18 needs Python 3.10, 3.11 or 3.12; none found (set PYTHON=...)"

# System packages Odoo's pins build against (Debian/Ubuntu); installed only when missing.
need_pkgs=()
for header_pkg in libpq-dev:/usr/include/postgresql/libpq-fe.h libldap2-dev:/usr/include/ldap.h \
                  libsasl2-dev:/usr/include/sasl/sasl.h; do
    pkg="${header_pkg%%:*}"; file="${header_pkg#*:}"
    [ -e "$file" ] || need_pkgs+=("$pkg")
done
command -v xmlsec1 >/dev/null 2>&1 || need_pkgs+=(xmlsec1)
# headless Chromium for the browser tours (HttpCase.start_tour); Odoo finds it as `chromium`
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        log "installing system packages: ${need_pkgs[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        log "WARNING: missing system packages (${need_pkgs[*]}); install them with apt-get as root"
    fi
fi

# --- 3. virtualenv --------------------------------------------------------------
stamp="$VENV/.l10n_pl_ksef_token.stamp"
want="$(cat "$ODOO_SRC/requirements.txt" "$here/requirements.txt" "$here/requirements-dev.txt" | sha256sum | cut -c1-16)"
link_odoo() {
    # Odoo is used from its source tree (no copy in the venv): a .pth file makes `import odoo` work.
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    printf '%s\n' "$ODOO_SRC" > "$site/odoo-src.pth"
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    link_odoo
    exit 0
fi
log "building virtualenv $VENV with $PYTHON (a few minutes the first time)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# cbor2's sdist (pinned by Odoo) does not build with setuptools>=81; the constraint reaches build envs too.
constraints="$VENV/build-constraints.txt"
printf 'setuptools<81\n' > "$constraints"
export PIP_CONSTRAINT="$constraints" PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/pip" install -q --upgrade "pip<25" wheel "setuptools<81"
"$VENV/bin/pip" install -q -r "$ODOO_SRC/requirements.txt"
"$VENV/bin/pip" install -q -r "$here/requirements.txt" -r "$here/requirements-dev.txt"
link_odoo
echo "$want" > "$stamp"
log "virtualenv ready"
