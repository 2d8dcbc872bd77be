"""Pages of a list, with out-of-range page numbers clamped and said so.

`?page=-1` and `?page=99999` mean the same mistake (a page that does not exist): both show
the nearest real page, first or last, and the page says which one was asked for, instead of
a 400 for one and a silent last page for the other.

Deep pages of a big list are read by a deferred join (`page_by_ids`): the offset walks ids
only, which PostgreSQL reads from an index alone when one covers the order and the filters,
and then only the page's own rows are read whole.
"""

from functools import cached_property

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet


class CountedPaginator(Paginator):
    """A paginator told its count when the caller knows it already (a snapshot's counter)."""

    def __init__(self, object_list, per_page, *, count: int | None = None):
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count if self.known_count is not None else super().count


def page_clamped(rows, per_page: int, number: int | None, *, count: int | None = None) -> Page:
    """The page `number` of `rows`; out of range, the first or last page with
    `.asked_for` set to the number asked for (None when it was a real page).
    `count`: how many rows there are, when known without counting them."""
    paginator = CountedPaginator(rows, per_page, count=count)
    asked = 1 if number is None else number
    shown = min(max(asked, 1), paginator.num_pages)
    page = paginator.page(shown)
    page.asked_for = asked if asked != shown else None
    return page


def rows_by_ids(rows: QuerySet, ids: list) -> list:
    """The rows of `rows` whose primary keys are `ids`, in the order of `ids`."""
    by_id = rows.order_by().in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def page_by_ids(rows: QuerySet, per_page: int, number: int | None, *, count=None) -> Page:
    """`page_clamped` by a deferred join: the page's ids first, then its rows by id, so the
    last of 3,000 pages costs about what the first does."""
    page = page_clamped(rows.values_list("pk", flat=True), per_page, number, count=count)
    page.object_list = rows_by_ids(rows, list(page.object_list))
    return page
