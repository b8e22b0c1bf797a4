#!/usr/bin/env bash
# Proves that the pylint-odoo hook really runs its per-addon checks: lints, the way the hook
# does, a throw-away addon with two classes inheriting one model, and fails unless
# consider-merging-classes-inherited is reported (and unless the author check sees the
# manifest).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
probe="$(mktemp -d)"; trap 'rm -rf "$probe"' EXIT
mkdir -p "$probe/lint_probe/models"
printf '{"name": "Probe", "version": "18.0.1.0.0", "license": "LGPL-3", "author": "Someone"}\n' \
    > "$probe/lint_probe/__manifest__.py"
for n in 1 2; do
    printf 'from odoo import models\n\n\nclass ResPartner(models.Model):\n    _inherit = "res.partner"\n' \
        > "$probe/lint_probe/models/probe$n.py"
done
cd "$probe"
out="$(env GIT_DIR=/nonexistent-git-dir pylint --rcfile="$here/.pylintrc-mandatory" \
    lint_probe/__manifest__.py lint_probe/models/probe1.py lint_probe/models/probe2.py 2>/dev/null || true)"
for check in consider-merging-classes-inherited manifest-required-author; do
    if ! grep -q "$check" <<<"$out"; then
        echo "[lint] ERROR: pylint-odoo did not run $check on a probe that breaks it" >&2
        echo "$out" >&2
        exit 1
    fi
done
echo "[lint] pylint-odoo's per-addon checks run (probe reported as expected)"
