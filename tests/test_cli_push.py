"""`pushapi push ENDPOINT FILE` (SPEC 2) against a real server process: each file format, CSV
column conventions, errors by file line, exit codes, --json, --check-locally, --dry-run,
--on-error, the progress bar; and the file readers (pushapi.cli.files) on their own."""

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from support.server import ServerProcess, free_port, launch_server

from pushapi.cli import app as cli_app
from pushapi.cli import run
from pushapi.cli.files import FileProblem, RecordFile
from pushapi.client import NotFound, PushClient


@dataclass
class Ran:
    """What one `pushapi` command did."""

    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = launch_server(
        ["--database-url", database_url], tmp_path_factory.mktemp("server") / "server.log"
    )
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def no_client_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSHAPI_API_KEY", raising=False)
    monkeypatch.delenv("PUSHAPI_URL", raising=False)


@pytest.fixture
def pushapi(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """Run `pushapi ARGS...` in this process, as the console script does."""

    def invoke(*args: str) -> Ran:
        try:
            run(typer.main.get_command(cli_app), list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def push(pushapi, server, tenant) -> Callable[..., Ran]:
    """`pushapi push` to the module's server with the test tenant's key."""

    def invoke(*args: str) -> Ran:
        return pushapi("push", *args, "--url", server.base_url, "--api-key", tenant.api_key)

    return invoke


@pytest.fixture
def reader(server, tenant) -> Iterator[PushClient]:
    with PushClient(server.base_url, tenant.api_key) as client:
        yield client


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def assert_one_line_error(ran: Ran, code: int, *fragments: str) -> None:
    assert ran.code == code, ran
    assert ran.err.startswith("pushapi: error: ") and ran.err.count("\n") == 1, ran.err
    assert "Traceback" not in ran.err + ran.out
    for fragment in fragments:
        assert fragment in ran.err


MEMBERS_CSV = """
ContactId,firstname,LastName,IsMember,MemberSince,Age,Groups[0].GroupId,Groups[0].GroupType,Groups[0].Role,Groups[1].GroupId,Groups[1].Role,EmailAddresses.EmailAddress,EmailAddresses.IsPreferred
A1,Ann,Lee,true,2020-01-31,42,CH1,Chapter,Member,COM2,Chair,ann@example.org|ann@work.example,true|false
A2,Bo,Ng,FALSE,,,CH1,Chapter,Member,,,,
"""


def test_csv_columns_map_to_contact_fields_and_collections(push, reader, tmp_path):
    ran = push("contactinfo", str(write(tmp_path / "members.csv", MEMBERS_CSV)))
    assert ran.code == 0, ran
    assert "created 2, updated 0, deleted 0, unchanged 0" in ran.out
    ann, bo = reader.get_contact("A1"), reader.get_contact("A2")
    details = ann["ContactDetails"]
    assert (details["FirstName"], details["IsMember"], details["Age"]) == ("Ann", True, 42)
    assert details["MemberSince"] == "2020-01-31T00:00:00.000Z"
    assert [(g["GroupId"], g["Role"]) for g in ann["Groups"]] == [
        ("CH1", "Member"),
        ("COM2", "Chair"),
    ]
    assert [(e["EmailAddress"], e["IsPreferred"]) for e in ann["EmailAddresses"]] == [
        ("ann@example.org", True),
        ("ann@work.example", False),
    ]
    assert bo["ContactDetails"]["IsMember"] is False
    assert bo["ContactDetails"]["MemberSince"] is None  # a blank cell is no value
    assert [g["GroupId"] for g in bo["Groups"]] == ["CH1"]  # the all-blank second group is absent
    assert not bo["EmailAddresses"]


SAME_CONTACTS = {
    "json": """
[{"ContactDetails": {"ContactId": "F1", "FirstName": "Ann", "Age": 42, "IsMember": true},
  "Groups": [{"GroupId": "CH1", "Role": "Member"}]},
 {"ContactDetails": {"ContactId": "F2", "LastName": "Ng", "Age": "7", "IsMember": "false"}}]
""",
    "ndjson": """
{"ContactDetails": {"ContactId": "F1", "FirstName": "Ann", "Age": 42, "IsMember": true}, \
"Groups": [{"GroupId": "CH1", "Role": "Member"}]}

{"ContactDetails": {"ContactId": "F2", "LastName": "Ng", "Age": "7", "IsMember": "false"}}
""",
    "csv": """
ContactId,FirstName,LastName,Age,IsMember,Groups.GroupId,Groups.Role
F1,Ann,,42,true,CH1,Member
F2,,Ng,7,false,,
""",
}


@pytest.mark.parametrize("file_format", ["json", "ndjson", "csv"])
def test_each_file_format_pushes_the_same_contacts(push, reader, tmp_path, file_format):
    ran = push("contactinfo", str(write(tmp_path / f"c.{file_format}", SAME_CONTACTS[file_format])))
    assert ran.code == 0, ran
    assert "Sent 2 records" in ran.out and "created 2" in ran.out
    first, second = reader.get_contact("F1"), reader.get_contact("F2")
    assert first["ContactDetails"]["FirstName"] == "Ann"
    assert (first["ContactDetails"]["Age"], first["ContactDetails"]["IsMember"]) == (42, True)
    assert [(g["GroupId"], g["Role"]) for g in first["Groups"]] == [("CH1", "Member")]
    assert (second["ContactDetails"]["Age"], second["ContactDetails"]["IsMember"]) == (7, False)
    assert second["ContactDetails"]["LastName"] == "Ng"
    again = push("contactinfo", str(tmp_path / f"c.{file_format}"))
    assert "created 0, updated 0, deleted 0, unchanged 2" in again.out


INVALID_CSV = """
ContactId,FirstName,LastName,Birthday
B1,Ann,Lee,1990-04-01
B2,Bo,Ng,
B3,Cy,Oh,
B4,Di,Po,the day before
B5,,,
B6,Ed,,
B7,Flo,Su,1985-12-24
"""


def test_rejected_batches_exit_1_naming_file_lines_and_fields(push, reader, tmp_path):
    ran = push("contactinfo", str(write(tmp_path / "m.csv", INVALID_CSV)), "--batch-size", "2")
    assert ran.code == 1, ran
    assert "line 5: ContactDetails.Birthday: expected a DateTime" in ran.out
    assert "line 6: ContactDetails.FirstName: FirstName or LastName is required" in ran.out
    assert "rejected: 2 of 4 batches, 4 records not applied (lines 4-5, lines 6-7)" in ran.out
    assert "created 3," in ran.out
    stored = {c["ContactDetails"]["ContactId"] for c in reader.iter_contacts()}
    assert stored == {"B1", "B2", "B7"}


def test_ndjson_errors_name_the_line_past_blank_lines(push, tmp_path):
    text = '{"ContactDetails": {"ContactId": "N1", "LastName": "A"}}\n\n\n'
    text += '{"ContactDetails": {"ContactId": "N2", "LastName": "B", "Age": "old"}}\n'
    ran = push("contactinfo", str(write(tmp_path / "n.ndjson", text)))
    assert ran.code == 1
    assert "line 4: ContactDetails.Age: expected an integer" in ran.out


def test_json_summary_is_machine_readable(push, reader, tmp_path):
    path = write(tmp_path / "m.csv", INVALID_CSV)
    ran = push("contactinfo", str(path), "--batch-size", "3", "--json")
    assert ran.code == 1
    summary = json.loads(ran.out)
    assert summary["endpoint"] == "contactinfo" and summary["dry_run"] is False
    assert summary["checked_locally"] is False and summary["rejected"] == 0
    assert (summary["records"], summary["batches"], summary["rejected_batches"]) == (7, 3, 1)
    assert (summary["created"], summary["received"], summary["not_applied"]) == (4, 4, 3)
    assert [(e["record"], e["line"], e["path"]) for e in summary["errors"]] == [
        (4, 5, "ContactDetails.Birthday"),
        (5, 6, "ContactDetails.FirstName"),
    ]
    statuses = [(r["first_record"], r["records"], r["status"]) for r in summary["requests"]]
    assert statuses == [(1, 3, 200), (4, 3, 400), (7, 1, 200)]
    logged = reader.get("pushes", summary["requests"][1]["request_id"])
    assert logged["status"] == 400 and logged["errorCount"] == 2


def test_check_locally_finds_what_the_server_finds_and_sends_nothing(
    pushapi, push, reader, tmp_path
):
    text = """
ContactId,FirstName,LastName,Age,Nickname,Groups[0].GroupId,Groups[0].BeginDate,Groups[0].EndDate
D1,Ann,,x,Annie,G1,2024-01-01,2023-01-01
D2,,,,,,2024-01-01,
D3,Cy,Oh,3,,G1,2024-01-01T10:00:00,
"""
    path = write(tmp_path / "d.csv", text)
    dry = pushapi("push", "contactinfo", str(path), "--check-locally", "--json")  # no key, server
    assert dry.code == 1, dry
    assert list(reader.iter_pushes()) == []
    checked = json.loads(dry.out)
    assert checked["checked_locally"] is True and checked["dry_run"] is False
    real = json.loads(push("contactinfo", str(path), "--json").out)
    assert checked["errors"] == real["errors"]
    assert len(checked["errors"]) == 4  # Age, EndDate before BeginDate, names, GroupId
    assert {w["path"] for w in checked["warnings"]} >= {"ContactDetails.Nickname"}


def test_check_locally_of_valid_records_exits_0(pushapi, tmp_path):
    path = str(write(tmp_path / "m.csv", MEMBERS_CSV))
    ran = pushapi("push", "contactinfo", path, "--check-locally")
    assert ran.code == 0, ran
    assert "Checked 2 records" in ran.out and "errors: 0" in ran.out


def test_wrong_key_exits_2_with_one_line(pushapi, server, tmp_path):
    path = write(tmp_path / "m.csv", MEMBERS_CSV)
    ran = pushapi("push", "contactinfo", str(path), "--url", server.base_url, "--api-key", "nope")
    assert_one_line_error(ran, 2, "refused the API key (401)")
    assert ran.out == ""


def test_unreachable_server_exits_2_with_one_line(pushapi, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    path = write(tmp_path / "m.csv", MEMBERS_CSV)
    ran = pushapi(
        "push", "contactinfo", str(path), "--url", url, "--api-key", "k", "--retries", "0"
    )
    assert_one_line_error(ran, 2, f"cannot reach {url}", "ConnectError")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["push", "contacts", "f.csv", "--api-key", "k"], "unknown endpoint 'contacts'"),
        (["push", "contactinfo", "f.csv"], "no API key"),
        (["push", "contactinfo", "f.csv", "--api-key", "k", "--url", "ftp://x"], "--url must"),
        (["push", "contactinfo", "f.csv", "--api-key", "k", "--url", "http://a:b:c"], "not a URL"),
        (["push", "contactinfo", "missing.csv", "--api-key", "k"], "missing.csv: cannot read"),
        (["push", "contactinfo", "f.txt", "--api-key", "k"], "cannot tell the format"),
        (["push", "list", "f.csv", "--api-key", "k"], "lists from CSV need --mode"),
        (["push", "contactinfo", "f.csv", "--api-key", "k", "--mode", "Add"], "--mode applies"),
        (["push", "contactinfo", "f.csv", "--api-key", "k", "--batch-size", "0"], "batch-size"),
    ],
)
def test_usage_errors_exit_2_with_one_line(pushapi, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "f.csv", "ListId,ContactId\nL1,C1\n")
    write(tmp_path / "f.txt", "")
    assert_one_line_error(pushapi(*args), 2, fragment)


def test_malformed_csv_exits_2_before_anything_is_sent(push, reader, tmp_path):
    path = write(tmp_path / "m.csv", "ContactId,LastName\nE1,A\nE2,B\nE3,C,extra\n")
    assert_one_line_error(push("contactinfo", str(path)), 2, "line 4: 3 cells")
    assert list(reader.iter_pushes()) == []


def test_url_and_key_come_from_the_environment(pushapi, server, tenant, tmp_path, monkeypatch):
    monkeypatch.setenv("PUSHAPI_URL", server.base_url)
    monkeypatch.setenv("PUSHAPI_API_KEY", tenant.api_key)
    ran = pushapi("push", "contactinfo", str(write(tmp_path / "m.csv", MEMBERS_CSV)))
    assert ran.code == 0, ran
    assert "created 2" in ran.out


def test_list_csv_groups_rows_by_list_with_the_mode_given(push, reader, tmp_path):
    rows = "ListId,ContactId,ListName\nL1,A1,Board\nL2,A2,\nL1,A3,\nL3,,Empty\n"
    ran = push("list", str(write(tmp_path / "lists.csv", rows)), "--mode", "replace")
    assert ran.code == 0, ran
    assert "Sent 3 records" in ran.out and "created 3" in ran.out
    board = reader.get_list("L1")
    assert (board["ListName"], board["ContactIds"]) == ("Board", ["A1", "A3"])
    assert reader.get_list("L3")["ContactIds"] == []
    removed = push(
        "list", str(write(tmp_path / "rm.csv", "ListId,ContactId\nL1,A1\n")), "--mode", "Remove"
    )
    assert removed.code == 0, removed
    assert reader.get_list("L1")["ContactIds"] == ["A3"]


def test_meeting_and_product_csv_columns_are_their_fields(push, reader, tmp_path):
    meetings = (
        "MeetingId,Title,BeginDate,EndDate,TimeZone\n"
        "M1,Gala,2025-06-01T18:00:00Z,2025-06-01T23:00:00Z,Europe/Paris\n"
    )
    products = "ProductId,ProductName,Price,IsActive\nP1,Membership,120.50,true\n"
    assert push("meeting", str(write(tmp_path / "m.csv", meetings))).code == 0
    assert push("product", str(write(tmp_path / "p.csv", products))).code == 0
    meeting, product = reader.get("meetings", "M1"), reader.get("products", "P1")
    assert (meeting["Title"], meeting["TimeZone"]) == ("Gala", "Europe/Paris")
    assert meeting["EndDate"] == "2025-06-01T23:00:00.000Z"
    assert (product["Price"], product["IsActive"]) == (Decimal("120.50"), True)


def _console_script(args: list[str], stderr_terminal: bool) -> tuple[int, str, str]:
    """Run `python -m pushapi ARGS`, with stderr on a pseudo-terminal or on a pipe."""
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    if not stderr_terminal:
        done = subprocess.run(
            [sys.executable, "-m", "pushapi", *args], capture_output=True, text=True, env=env
        )
        return done.returncode, done.stdout, done.stderr
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "pushapi", *args], stdout=subprocess.PIPE, stderr=terminal, env=env
    ) as process:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not chunk:
                break
            shown += chunk
        out = process.stdout.read().decode() if process.stdout else ""
    os.close(controller)
    return process.returncode, out, shown.decode(errors="replace")


def test_progress_bar_on_a_terminal(server, tenant, tmp_path):
    rows = "ContactId,LastName\n" + "".join(f"P{n},L{n}\n" for n in range(50))
    path = write(tmp_path / "many.csv", rows)
    args = ["push", "contactinfo", str(path), "--url", server.base_url,
            "--api-key", tenant.api_key, "--batch-size", "10"]  # fmt: skip
    code, out, shown = _console_script(args, stderr_terminal=True)
    assert code == 0
    assert "50/50" in shown and "batch 5/5" in shown
    assert "Sent 50 records of many.csv to /v2/contactinfo in 5 batches" in out


def test_no_progress_output_when_not_on_a_terminal(push, tmp_path):
    ran = push("contactinfo", str(write(tmp_path / "m.csv", MEMBERS_CSV)), "--batch-size", "1")
    assert ran.code == 0
    assert ran.err == ""


def test_console_script_error_is_one_line_without_traceback(tmp_path):
    code, out, err = _console_script(
        ["push", "contactinfo", str(tmp_path / "absent.csv"), "--api-key", "k"], False
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("pushapi: error: ") and "Traceback" not in err


# The file readers on their own (no server needed).


def records_of(path: Path, endpoint: str = "contactinfo", **options: Any) -> list[dict[str, Any]]:
    return list(RecordFile(path, endpoint, **options))


def test_csv_cells_stay_strings_and_blank_items_are_left_out(tmp_path):
    text = "ContactDetails.ContactId,age,Groups[1].GroupId,Groups[0].GroupId,Phones.X\nA,42,,G0,\n"
    path = write(tmp_path / "c.csv", text)
    assert records_of(path) == [
        {
            "ContactDetails": {"ContactId": "A", "Age": "42"},
            "Groups": [{"GroupId": "G0"}],
            "Phones": [],  # not a collection of ContactInfo: the server warns about it
        }
    ]


def test_csv_pipe_form_makes_one_item_per_part(tmp_path):
    text = "ContactId,Groups.GroupId,Groups.Role\nA,G1| G2 |G3,Chair||\n"
    assert records_of(write(tmp_path / "c.csv", text))[0]["Groups"] == [
        {"GroupId": "G1", "Role": "Chair"},
        {"GroupId": "G2", "Role": ""},
        {"GroupId": "G3", "Role": ""},
    ]


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("ContactId,Groups[0].GroupId,Groups.Role", "use either Groups[i].Field or Groups.Field"),
        ("ContactId,contactid", "name one field"),
        ("ContactId,,LastName", "column 2 has no name"),
        ("ContactId,a.b.c", "is not Field"),
        ("ContactId,ContactDetails[0].FirstName", "ContactDetails is not a collection"),
    ],
)
def test_csv_headers_that_cannot_be_mapped_are_refused(tmp_path, header, fragment):
    with pytest.raises(FileProblem, match=fragment.replace("[", r"\[").replace(".", r"\.")):
        RecordFile(write(tmp_path / "c.csv", header + "\n"), "contactinfo")


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("a.json", '{"ContactDetails": {}}', "must hold an array"),
        ("a.json", "[1]", "record 1 is not a JSON object"),
        ("a.json", "[{]", "not valid JSON"),
        ("a.ndjson", '{"a": 1}\n[1]\n', "line 2 is not a JSON object"),
        ("a.ndjson", '{"a": 1}\n\n{"a": NaN}\n', "line 3: not valid JSON"),
        ("a.csv", "", "the file is empty"),
    ],
)
def test_unreadable_files_name_the_place(tmp_path, name, text, fragment):
    with pytest.raises(FileProblem, match=fragment):
        RecordFile(write(tmp_path / name, text), "contactinfo")


def test_json_numbers_stay_exact(tmp_path):
    text = '[{"Price": 0.1, "Big": 123456789012345678901234567890, "Small": 7}]'
    (record,) = records_of(write(tmp_path / "p.json", text), "product")
    assert record == {
        "Price": Decimal("0.1"),
        "Big": Decimal(123456789012345678901234567890),
        "Small": 7,
    }


def test_list_csv_records_start_at_their_first_row(tmp_path):
    path = write(tmp_path / "l.csv", "listid,ContactId\nL1,A\nL2,B\nL1,C\n")
    found = RecordFile(path, "list", mode="add")
    assert list(found) == [
        {"ListId": "L1", "Mode": "Add", "ContactIds": ["A", "C"]},
        {"ListId": "L2", "Mode": "Add", "ContactIds": ["B"]},
    ]
    assert (found.where(0), found.where(1)) == ("line 2", "line 3")


# -- SPEC 3.2 options: --dry-run (the server's), --on-error ---------------------------------

MIXED_CSV = """
ContactId,FirstName,LastName,Age
M1,Ann,Lee,40
M2,Bo,Ng,old
M3,Cy,Oh,
M4,,,
"""


def test_dry_run_asks_the_server_and_changes_nothing(push, reader, tmp_path):
    path = write(tmp_path / "members.csv", MEMBERS_CSV)
    ran = push("contactinfo", str(path), "--dry-run")
    assert ran.code == 0, ran
    assert "as a dry run: nothing was changed" in ran.out
    assert "created 2, updated 0, deleted 0, unchanged 0, rejected 0" in ran.out
    with pytest.raises(NotFound):
        reader.get_contact("A1")
    (logged,) = list(reader.iter_pushes())
    assert logged["dryRun"] is True and logged["created"] == 2
    summary = json.loads(push("contactinfo", str(path), "--dry-run", "--json").out)
    assert summary["dry_run"] is True and summary["created"] == 2
    assert push("contactinfo", str(path)).code == 0
    assert reader.get_contact("A1")["ContactDetails"]["FirstName"] == "Ann"


def test_on_error_skip_applies_the_valid_records_and_names_the_others(push, reader, tmp_path):
    path = write(tmp_path / "mixed.csv", MIXED_CSV)
    ran = push("contactinfo", str(path), "--on-error", "skip")
    assert ran.code == 1, ran  # not every record was applied
    assert "created 2, updated 0, deleted 0, unchanged 0, rejected 2" in ran.out
    assert "skipped: 2 invalid records left out (--on-error skip)" in ran.out
    assert "line 3: ContactDetails.Age:" in ran.out  # the file's line of the record
    assert reader.get_contact("M1") and reader.get_contact("M3")
    with pytest.raises(NotFound):
        reader.get_contact("M2")
    summary = json.loads(push("contactinfo", str(path), "--on-error", "skip", "--json").out)
    assert (summary["rejected"], summary["unchanged"], summary["not_applied"]) == (2, 2, 2)
    assert {(e["record"], e["line"]) for e in summary["errors"]} >= {(2, 3), (4, 5)}


def test_on_error_reject_is_the_default_and_other_values_are_refused(push, reader, tmp_path):
    path = write(tmp_path / "mixed.csv", MIXED_CSV)
    ran = push("contactinfo", str(path))
    assert ran.code == 1 and "rejected: 1 of 1 batches, 4 records not applied" in ran.out
    with pytest.raises(NotFound):
        reader.get_contact("M1")
    assert_one_line_error(push("contactinfo", str(path), "--on-error", "ignore"), 2, "--on-error")
