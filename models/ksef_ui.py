"""What the UI entry points of the addon share: the password step, and refusing control
characters in descriptions."""

import functools

from odoo.exceptions import ValidationError
from odoo.http import request

from odoo.addons.base.models.res_users import check_identity


def ksef_identity_checked(fn):
    """The UI entry points that lead to importing, generating or revoking tokens ask for the
    user's password first (Odoo's ``check_identity``, valid 10 minutes). Python callers (no
    HTTP request: jobs, other modules, tests) call the method directly."""
    checked = check_identity(fn)

    @functools.wraps(fn)
    def wrapped(self, *args, **kwargs):
        if not request:
            return fn(self, *args, **kwargs)
        return checked(self, *args, **kwargs)

    # res.users.identitycheck only re-runs methods marked by check_identity
    setattr(wrapped, "__has_check_identity", True)  # noqa: B010
    return wrapped


def check_description_text(env, values, field_name):
    """Refuse a NUL or other control character in a description before the database does (it
    would give a raw ValueError): what is wrong and what to do."""
    text = values.get(field_name)
    if isinstance(text, str) and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise ValidationError(
            env._(
                "The description contains a control character (such as a NUL or a line break, "
                "often pasted by accident). Type the description again using letters, digits "
                "and punctuation only."
            )
        )


def dialog_action(record, name, target="new"):
    """The window action that shows ``record`` (a wizard row) in its form, as a dialog."""
    return {
        "type": "ir.actions.act_window",
        "name": name,
        "res_model": record._name,
        "res_id": record.id,
        "view_mode": "form",
        "target": target,
    }
