"""The outcome of applying one push: each record lands in exactly one count (SPEC 3)."""

from dataclasses import dataclass


@dataclass(slots=True)
class Counts:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
