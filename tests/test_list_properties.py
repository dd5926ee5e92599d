"""Any sequence of Add/Append/Remove/Replace pushes (SPEC 4.2) leaves exactly the members, and
gives exactly the counts (SPEC 3), that a plain Python set model predicts."""

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LIST_IDS = ("L1", "L2")
CONTACT_IDS = ("a", "b", "c", "d")  # few, so pushes keep meeting the same members
_examples = itertools.count()


def _any_case(word: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(word), max_size=len(word))
    return flips.map(
        lambda up: "".join(c.upper() if u else c.lower() for c, u in zip(word, up, strict=True))
    )


modes = st.sampled_from(["Add", "Append", "Remove", "Replace"]).flatmap(
    lambda mode: st.tuples(st.just(mode), _any_case(mode))
)
member_lists = st.lists(st.sampled_from(CONTACT_IDS), min_size=1, max_size=6)
# Hypothesis favours empty lists; drawing the shape first keeps most pushes touching members.
# Empty, or left out (None), about one time in six each; duplicates must collapse.
contact_ids = st.sampled_from(["ids", "ids", "ids", "ids", "empty", "absent"]).flatmap(
    lambda shape: {"ids": member_lists, "empty": st.just([]), "absent": st.none()}[shape]
)
records = st.fixed_dictionaries(
    {
        "ListId": st.sampled_from(LIST_IDS),
        "Mode": modes,
        "ContactIds": contact_ids,
    }
)
pushes = st.lists(st.lists(records, min_size=1, max_size=4), min_size=2, max_size=5)


def model_push(
    model: dict[str, set[str]], batch: list[dict[str, Any]]
) -> tuple[int, int, int, int]:
    """Apply one push to the set model; return (created, updated, deleted, unchanged)."""
    created = updated = unchanged = 0
    for record in batch:
        mode = record["Mode"][0]
        ids = set(record["ContactIds"] or ())
        new = record["ListId"] not in model
        before = model.setdefault(record["ListId"], set())
        if mode in ("Add", "Append"):
            after = before | ids
        elif mode == "Remove":
            after = before - ids
        else:
            after = ids
        model[record["ListId"]] = after
        if new:
            created += 1
        elif after != before:
            updated += 1
        else:
            unchanged += 1
    return created, updated, 0, unchanged


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pushes=pushes)
def test_list_pushes_leave_the_membership_a_set_model_predicts(client, tenant, pushes):
    prefix = f"x{next(_examples)}-"  # each example works on lists of its own
    model: dict[str, set[str]] = {}

    def check_members() -> None:
        for list_id in LIST_IDS:
            response = client.get(f"/v2/lists/{prefix}{list_id}", headers=tenant.headers)
            if list_id not in model:
                assert response.status_code == 404
                continue
            assert response.status_code == 200, response.text
            stored = response.json()
            assert set(stored["ContactIds"]) == model[list_id]
            assert stored["MemberCount"] == len(model[list_id]) == len(stored["ContactIds"])

    for batch in pushes:
        body = [
            {
                "ListId": prefix + record["ListId"],
                "Mode": record["Mode"][1],
                "ContactIds": record["ContactIds"],
            }
            for record in batch
        ]
        response = client.post("/v2/list", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
        result = response.json()
        expected = model_push(model, batch)
        got = (result["created"], result["updated"], result["deleted"], result["unchanged"])
        assert got == expected
        check_members()  # after every push, so a later Replace cannot hide a wrong state
