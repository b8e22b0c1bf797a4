"""The one conversion of KSeF's date-times into what Odoo stores (naive UTC)."""

from datetime import timezone


def naive_utc(value):
    """``value`` (an aware or naive ``datetime``, or a false value) as naive UTC; a naive
    value is taken to be UTC already. ``None`` for a false value."""
    if not value:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value
