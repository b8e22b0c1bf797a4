"""The cache of KSeF authentication sessions: one row per KSeF token.

The access and refresh JWTs are secrets: they live AES-GCM encrypted (:mod:`.secret_vault`,
associated data bound to the token and to the kind of JWT) in the columns
``access_ciphertext`` and ``refresh_ciphertext``, which are deliberately **not ORM fields**
(like ``ksef_token.secret_ciphertext``): no read, export, search, group-by or RPC can reach
them, whoever asks. No group has any access right on this model; only the session service
(:mod:`.ksef_session_service`) reads and writes it, with raw SQL under a row lock.
"""

from odoo import fields, models
from odoo.tools import SQL

#: the non-ORM columns of ``ksef_session`` (see the module docstring)
SECRET_COLUMNS = ("access_ciphertext", "refresh_ciphertext")


def session_aad(token_id, kind):
    """Associated data of a cached JWT: a ciphertext copied onto another token's row, or
    from the refresh column into the access one, does not decrypt."""
    return f"ksef.session:{token_id}:{kind}"


class KsefSession(models.Model):
    _name = "ksef.session"
    _description = "KSeF Authentication Session (cache)"
    _order = "token_id"
    _rec_name = "token_id"

    token_id = fields.Many2one(
        "ksef.token",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    access_valid_until = fields.Datetime(readonly=True)
    refresh_valid_until = fields.Datetime(readonly=True)
    auth_reference = fields.Char(
        string="Authentication Reference",
        readonly=True,
        help="Reference number (…-AU-…) of the KSeF authentication behind the cached session.",
    )
    policy_key = fields.Char(
        readonly=True,
        help="Fingerprint of the IP policy sent with the authentication: when the company's "
        "policy changes, the next request authenticates again.",
    )
    auth_count = fields.Integer(string="Full Authentications", readonly=True)
    refresh_count = fields.Integer(string="Refreshes", readonly=True)
    last_auth_date = fields.Datetime(readonly=True)
    last_refresh_date = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("token_unique", "UNIQUE(token_id)", "A KSeF token has one cached session."),
    ]

    def init(self):
        res = super().init()
        # The JWT columns are deliberately not ORM fields (see the module docstring).
        for column in SECRET_COLUMNS:
            self.env.cr.execute(
                SQL(
                    "ALTER TABLE ksef_session ADD COLUMN IF NOT EXISTS %s text",
                    SQL.identifier(column),
                )
            )
        return res
