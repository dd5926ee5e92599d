# Types of the native module built from native.pyx.
from collections.abc import Callable
from typing import Any

KINDS: dict[str, int]

def millis_zoned(raw: str) -> str | None: ...
def plausible_email(text: str) -> bool: ...

class Finisher:
    def __init__(
        self,
        fields: tuple[tuple[str, int, Any], ...],
        needed: tuple[tuple[int, bool], ...],
        deletion: int,
        rules: tuple[Callable[[dict[str, Any]], Any], ...],
        declined: type[Exception],
        datetime: Callable[[str], str | None],
        number: Callable[[Any, Any], Any],
        decimal: type,
    ) -> None: ...
    def __call__(self, obj: Any) -> dict[str, Any]: ...
