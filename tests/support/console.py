"""Signing in to the console (SPEC 9) from tests, as a browser would: read the form's CSRF token,
post it with the credentials, keep the session cookie."""

import re
import secrets
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def form_token(client: Any, path: str = "/console/signin") -> str:
    """The CSRF token of a page's forms (the sign-in page's when not signed in)."""
    return csrf_of(client.get(path))


def sign_in(client: Any, **fields: str) -> httpx.Response:
    """Post the sign-in form: kind=operator with name and password, or kind=tenant with api_key."""
    return client.post("/console/signin", data={"csrf": form_token(client), **fields})


def new_address() -> str:
    """A client address of its own, so that failed sign-ins of one test lock no other."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
