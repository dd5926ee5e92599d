"""Stored documents are written byte for byte as before the encoder changed (orjson with exact
decimals), so that the content hashes of stored contacts stay valid across upgrades."""

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pushapi.store.documents import dump_document


def orjson_document(document: Any) -> bytes:
    """How documents were written: orjson, decimals as their exact text."""

    def fragment(value: Any) -> orjson.Fragment:
        if isinstance(value, Decimal):
            return orjson.Fragment(str(value))
        raise TypeError(type(value).__name__)

    return orjson.dumps(document, default=fragment)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31 - 1)
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(DOCUMENTS)
def test_documents_are_written_as_orjson_wrote_them(document: Any) -> None:
    try:
        expected = orjson_document(document)
    except orjson.JSONEncodeError:
        return  # text orjson refuses (a lone surrogate) never reaches storage: it is a 400
    assert dump_document(document) == expected


def test_decimals_are_written_exactly_as_pushed() -> None:
    values = [Decimal(text) for text in ("1.50", "-0", "1E+3", "0E-7", "27.224477")]
    assert dump_document(values) == b"[1.50,-0,1E+3,0E-7,27.224477]"
