"""Pages of a list, with out-of-range page numbers clamped and said so.

`?page=-1` and `?page=99999` mean the same mistake (a page that does not exist): both show
the nearest real page, first or last, and the page says which one was asked for, instead of
a 400 for one and a silent last page for the other.

Deep pages of a big list are read by a deferred join (`page_by_ids`): the offset walks ids
only, which PostgreSQL reads from an index alone when one covers the order and the filters,
and then only the page's own rows are read whole.

A page past the middle is read from the other end: every ORDER BY term reversed, offset by
the rows after the page, the rows turned back in Python. An offset costs the rows it skips
(sorted first when no index serves the order), so the last page costs what the first does
and the middle page is the dearest. Reversing is exact only for a total order, so the
ordering is made to end with a unique tie-breaker (the primary key unless told another).
"""

from functools import cached_property

from django.core.paginator import Page, Paginator
from django.db.models import F, OrderBy, QuerySet


class CountedPaginator(Paginator):
    """A paginator told its count when the caller knows it already (a snapshot's counter)."""

    def __init__(self, object_list, per_page, *, count: int | None = None):
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count if self.known_count is not None else super().count


def _term_name(term) -> str | None:
    """The field an ORDER BY term sorts by ("-name" and F("name").desc() give "name")."""
    if isinstance(term, str):
        return term.removeprefix("-")
    if isinstance(term, OrderBy) and isinstance(term.expression, F):
        return term.expression.name
    if isinstance(term, F):
        return term.name
    return None


def totally_ordered(rows: QuerySet, tie_breaker: str = "pk") -> QuerySet:
    """`rows` in their order, ties broken by `tie_breaker` (a field unique among `rows`)
    unless the ordering already ends with it."""
    terms = list(rows.query.order_by)
    if not terms and rows.query.default_ordering:
        terms = list(rows.model._meta.ordering)
    same = {tie_breaker, "pk", rows.model._meta.pk.name} if tie_breaker == "pk" else {tie_breaker}
    if terms and _term_name(terms[-1]) in same:
        return rows
    return rows.order_by(*terms, tie_breaker)


def rows_of_page(rows: QuerySet, start: int, end: int, total: int) -> list:
    """`rows[start:end]` of `total` rows, read from the nearer end: past the middle, in the
    reversed order, offset by the rows after the page. `rows` must be totally ordered."""
    after = total - end
    if after >= start:
        return list(rows[start:end])
    return list(rows.reverse()[after : total - start])[::-1]


def page_clamped(
    rows,
    per_page: int,
    number: int | None,
    *,
    count: int | None = None,
    tie_breaker: str = "pk",
) -> Page:
    """The page `number` of `rows`; out of range, the first or last page with
    `.asked_for` set to the number asked for (None when it was a real page).
    `count`: how many rows there are, when known without counting them.

    A queryset's page is read from the nearer end, in its order made total by `tie_breaker`
    (a field unique among `rows`: "name" for one snapshot's namespaces)."""
    if isinstance(rows, QuerySet):
        rows = totally_ordered(rows, tie_breaker)
    paginator = CountedPaginator(rows, per_page, count=count)
    asked = 1 if number is None else number
    shown = min(max(asked, 1), paginator.num_pages)
    page = paginator.page(shown)
    page.asked_for = asked if asked != shown else None
    if isinstance(rows, QuerySet) and paginator.count:
        start = page.start_index() - 1
        page.object_list = rows_of_page(rows, start, page.end_index(), paginator.count)
    return page


def rows_by_ids(rows: QuerySet, ids: list) -> list:
    """The rows of `rows` whose primary keys are `ids`, in the order of `ids`."""
    by_id = rows.order_by().in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def page_by_ids(rows: QuerySet, per_page: int, number: int | None, *, count=None) -> Page:
    """`page_clamped` by a deferred join: the page's ids first (from the nearer end), then
    its rows by id, so the deepest of 3,000 pages costs a few times what the first does."""
    page = page_clamped(rows.values_list("pk", flat=True), per_page, number, count=count)
    page.object_list = rows_by_ids(rows, page.object_list)
    return page
