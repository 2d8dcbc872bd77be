"""One view, two templates: the whole page, or the named partial an htmx request swaps.

A page declares its swappable regions as partials named after the DOM id they replace.
An htmx request whose HX-Target is one of them gets `page.html#<id>`; anything else
(a normal visit, a history restore, an unknown target) gets the whole page, so a page
always works without JavaScript and a bookmarked URL shows the same state.
"""

from collections.abc import Iterable

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers


def page_response(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    partials: Iterable[str] = (),
    status: int = 200,
) -> TemplateResponse:
    """Render `template`, or only its partial named by the htmx target."""
    htmx = getattr(request, "htmx", None)
    chosen = template
    if htmx and not htmx.history_restore_request and htmx.target in set(partials):
        chosen = f"{template}#{htmx.target}"
    response = TemplateResponse(request, chosen, context, status=status)
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response
