"""Modules compiled by Cython in pure-Python mode, loaded again from their source as plain
Python: the fallback of an installation without a C compiler, tested where CI builds the native
code."""

import importlib.util
from pathlib import Path
from types import ModuleType


def plain_python(module: ModuleType) -> ModuleType:
    """The source of a module compiled in Cython's pure-Python mode, loaded as plain Python."""
    source = Path(module.__file__ or "").parent / f"{module.__name__.rsplit('.', 1)[1]}.py"
    spec = importlib.util.spec_from_file_location(f"plain_{module.__name__}", source)
    assert spec is not None and spec.loader is not None
    plain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plain)
    assert (plain.__file__ or "").endswith(".py")
    return plain
