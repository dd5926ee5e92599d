# Types of the native module built from native.pyx.
from typing import Any

def contact_parts(
    record: dict[str, Any],
    collections: tuple[str, ...],
    group_attributes: tuple[str, ...],
    references: tuple[str, ...],
) -> (
    tuple[
        list[tuple[Any, ...]],
        list[tuple[str, str | None, str | None, str | None]],
        list[tuple[str, str]],
        list[tuple[int, str]],
    ]
    | None
): ...
