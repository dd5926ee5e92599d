"""What Cython's pure-Python mode gives a module (`import cython`), for when the module runs as
plain Python without Cython installed: the decorators do nothing, the types are Python's.

A module compiled in pure-Python mode imports it as SQLAlchemy's do:

    try:
        import cython
    except ModuleNotFoundError:
        from pushapi import cython_shim as cython
"""

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

compiled = False
bint = bool
int = int
Py_ssize_t = int
Py_UCS4 = str


T = TypeVar("T")


def cfunc(function: F) -> F:
    return function


def ccall(function: F) -> F:
    return function


def cclass(cls: T) -> T:
    return cls


def cast(_type: Any, value: Any) -> Any:
    return value


def inline(function: F) -> F:
    return function
