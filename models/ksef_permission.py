from odoo import fields, models


class KsefPermission(models.Model):
    """A KSeF token permission (``TokenPermissionType``), shipped as data records."""

    _name = "ksef.permission"
    _description = "KSeF Token Permission"
    _order = "sequence, id"
    _rec_name = "label"

    name = fields.Char(
        string="KSeF Name",
        required=True,
        readonly=True,
        help="The permission as KSeF names it, e.g. InvoiceWrite.",
    )
    label = fields.Char(required=True, translate=True)
    description = fields.Text(translate=True)
    sequence = fields.Integer(default=10)
    color = fields.Integer()

    _sql_constraints = [
        ("name_unique", "UNIQUE(name)", "A KSeF permission with this name already exists."),
    ]

    def _by_names(self, names):
        """Records for KSeF permission names (unknown names are ignored)."""
        return self.search([("name", "in", list(names or ()))])
