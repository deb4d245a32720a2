"""Small formatting helpers the page templates share."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import template
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def moment(value: datetime | None) -> SafeString | str:
    """A date and time as people read it, with the exact instant for machines."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>', local.isoformat(), local.strftime(f"%Y-%m-%d %H:%M {local.tzname()}")
    )


@register.filter
def points(value: Decimal | float | None) -> str:
    """4.00 as 4 and 2.50 as 2.5: points without trailing zeros."""
    if value is None:
        return "\N{EN DASH}"
    text = str(floatformat(value, "-2"))
    return text.rstrip("0").rstrip(".") if "." in text else text
