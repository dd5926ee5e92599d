"""The outcome of applying one push: each record lands in exactly one count (SPEC 3), and the
change events of what it changed, in order (SPEC 8)."""

from dataclasses import dataclass, field


@dataclass(slots=True)
class Counts:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    # (type, id) of each change, in the order applied: ("contact.created", "C1"), ...
    changes: list[tuple[str, str]] = field(default_factory=list)
    # When the push wrote contacts: how many more live contacts the tenant has now (may be
    # negative or 0). Moves the tenant's contacts version with its change seq (store/changes.py).
    live_contacts_delta: int | None = None
