"""Groups and memberships (SPEC 4.1) and the group read API (SPEC 5): membership identity, group
attributes, Kind, active membership at an instant, hidden members of deleted contacts."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from test_contact_reads import assert_error, push, quoted, utc_millis

GROUP_FIELDS = {
    "GroupId",
    "GroupName",
    "GroupType",
    "GroupSubType",
    "Kind",
    "CreatedAt",
    "UpdatedAt",
}
DEFAULT_COMMUNITY_TYPES = ("Committee", "Chapter", "Community", "Event", "SIG")


def member(contact_id: str, *groups: dict[str, Any]) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "LastName": "M"}, "Groups": list(groups)}


def group(client: Any, tenant: Any, group_id: str, at: str | None = None) -> dict[str, Any]:
    params = {"at": at} if at is not None else {}
    response = client.get(f"/v2/groups/{quoted(group_id)}", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def active(client: Any, tenant: Any, group_id: str, at: str | None = None) -> list[tuple[str, Any]]:
    members = group(client, tenant, group_id, at)["ActiveMembers"]
    return [(m["ContactId"], m["Role"]) for m in members]


def contact_groups(client: Any, tenant: Any, contact_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v2/contacts/{contact_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["Groups"])


def all_groups(client: Any, tenant: Any, limit: int) -> tuple[list[dict[str, Any]], list[int]]:
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor = None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v2/groups", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "nextCursor"}
        items.extend(body["items"])
        sizes.append(len(body["items"]))
        cursor = body["nextCursor"]
        if cursor is None:
            return items, sizes


# -- membership identity ------------------------------------------------------------------------


def test_same_group_with_two_roles_is_two_memberships(client, tenant):
    roles = [
        {"GroupId": "G", "Role": "Chair"},
        {"GroupId": "G", "Role": "Member"},
        {"GroupId": "G"},
    ]
    push(client, tenant, [member("c", *roles)])
    assert [(g["GroupId"], g["Role"]) for g in contact_groups(client, tenant, "c")] == [
        ("G", "Chair"),
        ("G", "Member"),
        ("G", None),
    ]
    assert sorted(active(client, tenant, "G"), key=str) == sorted(
        [("c", "Chair"), ("c", "Member"), ("c", None)], key=str
    )


def test_repeated_group_and_role_later_entry_wins_with_a_warning(client, tenant):
    groups = [
        {"GroupId": "G", "Role": "Member", "BeginDate": "2020-01-01"},
        {"GroupId": "H"},
        {"GroupId": "G", "Role": "Member", "BeginDate": "2021-01-01"},
    ]
    answer = push(client, tenant, [member("x"), member("c", *groups)])
    [warning] = answer["warnings"]
    assert (warning["index"], warning["path"]) == (1, "Groups[0]")
    assert "Groups[2]" in warning["message"]
    back = contact_groups(client, tenant, "c")
    assert [(g["GroupId"], g["BeginDate"]) for g in back] == [
        ("H", None),
        ("G", "2021-01-01T00:00:00.000Z"),
    ]
    members = group(client, tenant, "G", at="2030-01-01")["ActiveMembers"]
    assert [(m["ContactId"], m["BeginDate"]) for m in members] == [
        ("c", "2021-01-01T00:00:00.000Z")
    ]


def test_contact_repushed_without_a_group_leaves_it(client, tenant):
    push(client, tenant, [member("a", {"GroupId": "G"}), member("b", {"GroupId": "G"})])
    push(client, tenant, [member("a", {"GroupId": "H"})])
    assert active(client, tenant, "G") == [("b", None)]
    assert active(client, tenant, "H") == [("a", None)]


def test_same_contact_twice_in_a_request_keeps_the_later_records_memberships(client, tenant):
    push(client, tenant, [member("c", {"GroupId": "First"}), member("c", {"GroupId": "Second"})])
    assert active(client, tenant, "First") == []
    assert active(client, tenant, "Second") == [("c", None)]
    assert [g["GroupId"] for g in contact_groups(client, tenant, "c")] == ["Second"]


def test_group_detail_lists_member_terms(client, tenant):
    term = {
        "GroupId": "G",
        "Role": "Chair",
        "InitialJoinDate": "2001-01-01T12:00:00+02:00",
        "BeginDate": "2002-02-02",
        "EndDate": "2099-09-09T09:09:09.999Z",
    }
    push(client, tenant, [member("c", term)])
    members = group(client, tenant, "G")["ActiveMembers"]
    assert members == [
        {
            "ContactId": "c",
            "Role": "Chair",
            "InitialJoinDate": "2001-01-01T10:00:00.000Z",
            "BeginDate": "2002-02-02T00:00:00.000Z",
            "EndDate": "2099-09-09T09:09:09.999Z",
        }
    ]


# -- group attributes ---------------------------------------------------------------------------


def test_group_attributes_take_the_last_pushed_non_null_value_across_contacts(client, tenant):
    push(client, tenant, [member("a", {"GroupId": "G", "GroupName": "Old", "GroupType": "Committee",
                                       "GroupSubType": "Standing"})])  # fmt: skip
    push(client, tenant, [member("b", {"GroupId": "G", "GroupName": "New", "GroupSubType": " "})])
    detail = group(client, tenant, "G")
    assert (detail["GroupName"], detail["GroupType"], detail["GroupSubType"]) == (
        "New",
        "Committee",
        "Standing",
    )
    for contact_id in ("a", "b"):
        [entry] = contact_groups(client, tenant, contact_id)
        assert (entry["GroupName"], entry["GroupType"]) == ("New", "Committee"), contact_id


def test_group_attributes_within_a_batch_follow_array_order(client, tenant):
    records = [
        member("a", {"GroupId": "G", "GroupName": "First", "GroupType": "Event"}),
        member("b", {"GroupId": "G", "Role": "X", "GroupName": "Second"},
               {"GroupId": "G", "Role": "Y", "GroupName": "Third"}),
        member("c", {"GroupId": "G", "Role": "Z"}),
    ]  # fmt: skip
    push(client, tenant, records)
    detail = group(client, tenant, "G")
    assert (detail["GroupName"], detail["GroupType"], detail["Kind"]) == (
        "Third",
        "Event",
        "community",
    )
    for contact_id in ("a", "b", "c"):
        names = {entry["GroupName"] for entry in contact_groups(client, tenant, contact_id)}
        assert names == {"Third"}, contact_id


def test_group_rename_alone_updates_the_group_but_not_the_contact(client, tenant):
    push(client, tenant, [member("c", {"GroupId": "G", "GroupName": "Old"})])
    created = group(client, tenant, "G")
    answer = push(client, tenant, [member("c", {"GroupId": "G", "GroupName": "New"})])
    assert (answer["updated"], answer["unchanged"]) == (0, 1)
    renamed = group(client, tenant, "G")
    assert renamed["GroupName"] == "New"
    assert renamed["CreatedAt"] == created["CreatedAt"]
    assert renamed["UpdatedAt"] >= created["UpdatedAt"]
    assert contact_groups(client, tenant, "c")[0]["GroupName"] == "New"


def test_group_without_attributes_reads_back_with_nulls(client, tenant):
    push(client, tenant, [member("c", {"GroupId": "Bare"})])
    detail = group(client, tenant, "Bare")
    assert set(detail) == GROUP_FIELDS | {"ActiveAt", "ActiveMembers"}
    assert (detail["GroupName"], detail["GroupType"], detail["GroupSubType"]) == (None,) * 3
    assert detail["Kind"] == "security"


# -- Kind ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_type", "kind"),
    [*((t, "community") for t in DEFAULT_COMMUNITY_TYPES), ("Membership", "security"),
     ("Board", "security"), (None, "security")],
)  # fmt: skip
def test_kind_follows_the_default_community_group_types(client, tenant, group_type, kind):
    push(client, tenant, [member("c", {"GroupId": "G", "GroupType": group_type})])
    assert group(client, tenant, "G")["Kind"] == kind
    items, _ = all_groups(client, tenant, 10)
    assert [(g["GroupId"], g["Kind"]) for g in items] == [("G", kind)]


def test_kind_follows_a_tenants_custom_community_group_types(client, make_tenant):
    tenant = make_tenant(community_group_types=("Board", "Forum"))
    groups = [{"GroupId": f"G-{t}", "GroupType": t} for t in ("Board", "Forum", "Committee")]
    push(client, tenant, [member("c", *groups)])
    kinds = {g["GroupId"]: g["Kind"] for g in all_groups(client, tenant, 10)[0]}
    assert kinds == {"G-Board": "community", "G-Forum": "community", "G-Committee": "security"}


def test_kind_is_recomputed_when_the_group_type_changes(client, tenant):
    push(client, tenant, [member("c", {"GroupId": "G", "GroupType": "Membership"})])
    assert group(client, tenant, "G")["Kind"] == "security"
    push(client, tenant, [member("c", {"GroupId": "G", "GroupType": "Committee"})])
    assert group(client, tenant, "G")["Kind"] == "community"


def test_every_group_is_security_on_community_essentials(client, make_tenant):
    tenant = make_tenant(platform="community-essentials")
    groups = [{"GroupId": f"G-{t}", "GroupType": t} for t in DEFAULT_COMMUNITY_TYPES]
    push(client, tenant, [member("c", *groups)])
    items, _ = all_groups(client, tenant, 100)
    assert len(items) == len(DEFAULT_COMMUNITY_TYPES)
    assert {g["Kind"] for g in items} == {"security"}
    assert group(client, tenant, "G-Committee")["Kind"] == "security"


# -- active membership --------------------------------------------------------------------------


def test_membership_is_active_from_begin_date_until_just_before_end_date(client, tenant):
    begin = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    end = datetime(2024, 6, 1, 8, 30, 0, 500000, tzinfo=UTC)
    term = {"GroupId": "G", "BeginDate": utc_millis(begin), "EndDate": utc_millis(end)}
    push(client, tenant, [member("c", term)])
    ms = timedelta(milliseconds=1)
    cases = [
        (begin - ms, False),
        (begin, True),
        (begin + ms, True),
        (end - ms, True),
        (end, False),
        (end + ms, False),
    ]
    for moment, expected in cases:
        members = active(client, tenant, "G", at=utc_millis(moment))
        assert (members == [("c", None)]) is expected, moment
    # The same instants written with an offset select the same members.
    offset = timezone(timedelta(hours=-3, minutes=-30))
    at_end = end.astimezone(offset).isoformat(timespec="milliseconds")
    assert active(client, tenant, "G", at=at_end) == []
    at_begin = begin.astimezone(offset).isoformat(timespec="milliseconds")
    assert active(client, tenant, "G", at=at_begin) == [("c", None)]


def test_open_ended_terms_are_active_far_in_the_past_and_future(client, tenant):
    push(client, tenant, [
        member("no-dates", {"GroupId": "G"}),
        member("no-begin", {"GroupId": "G", "EndDate": "2000-01-01"}),
        member("no-end", {"GroupId": "G", "BeginDate": "2000-01-01"}),
    ])  # fmt: skip
    assert [c for c, _ in active(client, tenant, "G", at="1900-01-01")] == ["no-begin", "no-dates"]
    assert [c for c, _ in active(client, tenant, "G", at="2999-12-31")] == ["no-dates", "no-end"]
    assert [c for c, _ in active(client, tenant, "G", at="2000-01-01")] == ["no-dates", "no-end"]


def test_active_members_default_to_now(client, tenant):
    now = datetime.now(UTC)
    day = timedelta(days=1)
    push(client, tenant, [
        member("current", {"GroupId": "G", "BeginDate": utc_millis(now - day),
                           "EndDate": utc_millis(now + day)}),
        member("past", {"GroupId": "G", "EndDate": utc_millis(now - day)}),
        member("future", {"GroupId": "G", "BeginDate": utc_millis(now + day)}),
    ])  # fmt: skip
    detail = group(client, tenant, "G")
    assert [m["ContactId"] for m in detail["ActiveMembers"]] == ["current"]
    assert utc_millis(now) <= detail["ActiveAt"] <= utc_millis(datetime.now(UTC))


@pytest.mark.parametrize("at", ["tomorrow", "2024-02-30", "2024-01-01T25:00:00Z"])
def test_bad_at_parameter_is_400_invalid_parameter(client, tenant, at):
    push(client, tenant, [member("c", {"GroupId": "G"})])
    response = client.get("/v2/groups/G", params={"at": at}, headers=tenant.headers)
    assert_error(response, 400, "invalid_parameter")


# -- members of deleted contacts ----------------------------------------------------------------


def test_deleted_contacts_memberships_are_kept_but_hidden_until_restored(client, tenant, snapshot):
    records = [member("a", {"GroupId": "G", "Role": "Chair"}), member("b", {"GroupId": "G"})]
    push(client, tenant, records)
    stored = snapshot(tenant)["memberships"]
    push(client, tenant, [{"ContactDetails": {"ContactId": "a", "IsDeleted": True}}])
    assert snapshot(tenant)["memberships"] == stored
    assert active(client, tenant, "G") == [("b", None)]
    assert push(client, tenant, [records[0]])["updated"] == 1
    assert active(client, tenant, "G") == [("a", "Chair"), ("b", None)]


def test_restore_with_other_groups_replaces_the_kept_memberships(client, tenant):
    push(client, tenant, [member("a", {"GroupId": "G"})])
    push(client, tenant, [{"ContactDetails": {"ContactId": "a", "IsDeleted": True}}])
    push(client, tenant, [member("a", {"GroupId": "H"})])
    assert active(client, tenant, "G") == []
    assert active(client, tenant, "H") == [("a", None)]


# -- group reads --------------------------------------------------------------------------------


def test_group_listing_pages_visit_every_group_once_in_group_id_order(client, tenant):
    ids = [f"G-{n:02d}" for n in range(12)]
    push(client, tenant, [member("c", *({"GroupId": g, "GroupName": f"Name {g}"}
                                         for g in reversed(ids)))])  # fmt: skip
    items, sizes = all_groups(client, tenant, 5)
    assert sizes == [5, 5, 2]
    assert [g["GroupId"] for g in items] == ids
    assert all(set(g) == GROUP_FIELDS for g in items)
    assert [g["GroupName"] for g in items] == [f"Name {g}" for g in ids]


def test_group_listing_of_an_empty_tenant_is_one_empty_last_page(client, tenant):
    body = client.get("/v2/groups", headers=tenant.headers).json()
    assert body == {"items": [], "nextCursor": None}


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "1001"}, {"limit": "x"},
                                    {"cursor": "garbage"}])  # fmt: skip
def test_bad_group_listing_parameter_is_400_invalid_parameter(client, tenant, params):
    response = client.get("/v2/groups", params=params, headers=tenant.headers)
    assert_error(response, 400, "invalid_parameter")


def test_unknown_group_is_404(client, tenant):
    push(client, tenant, [member("c", {"GroupId": "G"})])
    assert_error(client.get("/v2/groups/g", headers=tenant.headers), 404, "not_found")


@pytest.mark.parametrize(
    "group_id", ["a/b", "with space", "名前", "50%", "q?x#y", "line\nbreak", "..", "end\n"]
)
def test_group_ids_with_reserved_characters_read_back_by_url_encoded_path(client, tenant, group_id):
    push(client, tenant, [member("c", {"GroupId": group_id, "GroupName": "Target"},
                                 {"GroupId": "a", "GroupName": "Other"})])  # fmt: skip
    detail = group(client, tenant, group_id)
    assert (detail["GroupId"], detail["GroupName"]) == (group_id, "Target")
    assert [m["ContactId"] for m in detail["ActiveMembers"]] == ["c"]


def test_another_tenants_group_is_404_and_never_the_data(client, make_tenant):
    owner, other = make_tenant(), make_tenant()
    push(client, owner, [member("c", {"GroupId": "G", "GroupName": "SecretGroup"})])
    response = client.get("/v2/groups/G", headers=other.headers)
    assert_error(response, 404, "not_found")
    assert "SecretGroup" not in response.text
    assert client.get("/v2/groups", headers=other.headers).json()["items"] == []


def test_same_group_id_in_two_tenants_keeps_separate_attributes_and_members(client, make_tenant):
    first, second = make_tenant(), make_tenant()
    push(client, first, [member("a", {"GroupId": "G", "GroupName": "First"})])
    push(client, second, [member("b", {"GroupId": "G", "GroupName": "Second"})])
    for owner, name, contact_id in ((first, "First", "a"), (second, "Second", "b")):
        detail = group(client, owner, "G")
        assert detail["GroupName"] == name
        assert [m["ContactId"] for m in detail["ActiveMembers"]] == [contact_id]
