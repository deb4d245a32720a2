"""Small formatting helpers the page templates share."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from django import template
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_CODE_SPAN = re.compile(r"`([^`\n]+)`")


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


@register.filter
def code_spans(text: str) -> SafeString:
    """A verdict's `name` as <code>name</code> (as the API's Markdown-style text means it);
    everything else escaped, since messages carry what the student's code raised."""
    return mark_safe(_CODE_SPAN.sub(r"<code>\1</code>", escape(text)))  # noqa: S308 - escaped first
