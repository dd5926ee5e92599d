"""Keyset pagination, the one way every listing of the API pages (SPEC 5): rows in key order
after the key the previous page ended with, and the key the next page starts after."""

from collections.abc import Sequence
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
) -> tuple[Sequence[Row[Any]], str | None]:
    """At most `limit` rows of `query` past `after` in `key` order, and the key of the last row
    when more rows follow (None on the last page). `query` must select `key`."""
    if after is not None:
        query = query.where(key < after if descending else key > after)
    ordered = query.order_by(key.desc() if descending else key)
    rows = conn.execute(ordered.limit(limit + 1)).all()
    page = rows[:limit]
    next_after = getattr(page[-1], key.name) if len(rows) > limit else None
    return page, next_after
