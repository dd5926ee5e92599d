"""Keyset pagination, the one way every listing of the API pages (SPEC 5): rows in key order
after the key the previous page ended with, and the key the next page starts after."""

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Row, Select


def keyset_page(
    conn: Connection,
    query: Select[Any],
    key: Column[Any],
    limit: int,
    after: str | None,
    *,
    descending: bool = False,
    max_bytes: int | None = None,
    size_of: Callable[[Row[Any]], int] = lambda row: 0,
) -> tuple[Sequence[Row[Any]], str | None]:
    """At most `limit` rows of `query` past `after` in `key` order, and the key of the last row
    when more rows follow (None on the last page). `query` must select `key`.

    With `max_bytes`, the page also ends before a row that would take the sizes of its rows
    (`size_of`) past it; a page holds at least one row. Rows are read one at a time, so a page
    of large records never holds more than the budget and one row.
    """
    if after is not None:
        query = query.where(key < after if descending else key > after)
    ordered = query.order_by(key.desc() if descending else key).limit(limit + 1)
    if max_bytes is None:
        rows = conn.execute(ordered).all()
        page = rows[:limit]
        more = len(rows) > limit
    else:
        page, more, total = [], False, 0
        result = conn.execution_options(stream_results=True, max_row_buffer=10).execute(ordered)
        for row in result:
            size = size_of(row)
            if len(page) == limit or (page and total + size > max_bytes):
                more = True
                break
            page.append(row)
            total += size
        result.close()
    next_after = getattr(page[-1], key.name) if more else None
    return page, next_after
