"""Pages of a list, with out-of-range page numbers clamped and said so.

`?page=-1` and `?page=99999` mean the same mistake (a page that does not exist): both show
the nearest real page, first or last, and the page says which one was asked for, instead of
a 400 for one and a silent last page for the other.
"""

from django.core.paginator import Page, Paginator


def page_clamped(rows, per_page: int, number: int | None) -> Page:
    """The page `number` of `rows`; out of range, the first or last page with
    `.asked_for` set to the number asked for (None when it was a real page)."""
    paginator = Paginator(rows, per_page)
    asked = 1 if number is None else number
    shown = min(max(asked, 1), paginator.num_pages)
    page = paginator.page(shown)
    page.asked_for = asked if asked != shown else None
    return page
