"""Markdown to safe HTML for the admin preview and API clients that do not render Markdown."""

from __future__ import annotations

import functools

import markdown
import nh3

_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]
_ALLOWED_TAGS = nh3.ALLOWED_TAGS | {"pre", "code", "table", "thead", "tbody", "tr", "th", "td", "hr", "img"}


def render_markdown(*, text: str) -> str:
    return _render(text)


# Keyed by the text itself, so an edited question can never get stale HTML; bounded, and
# the same few hundred prompts are rendered on every quiz read otherwise.
@functools.lru_cache(maxsize=4096)
def _render(text: str) -> str:
    html = markdown.markdown(text, extensions=_EXTENSIONS, output_format="html")
    # Instructors are trusted with content, not with script: sanitize anyway, since an
    # admin account can be phished and this HTML reaches every student.
    return nh3.clean(html, tags=_ALLOWED_TAGS, link_rel="noopener noreferrer")
