"""`pushapi push` (SPEC 2): a file's records pushed in batches, with a progress bar, retries, and
a summary of counts, warnings and errors at the file's lines."""

from pathlib import Path
from typing import Annotated

import httpx
import typer

from pushapi.cli.common import Json, fail, print_json
from pushapi.cli.files import FileProblem, RecordFile
from pushapi.cli.report import NoLocalSchema, PushProgress, PushReport, push_failure
from pushapi.client import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_URL,
    ENDPOINTS,
    PushApiError,
    PushClient,
    PushOptions,
    PushSummary,
)

app = typer.Typer()


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as problem:
        fail(f"--url {url!r} is not a URL: {problem}", status=2)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        fail(f"--url must be http://host[:port] or https://..., got {url!r}", status=2)


def _push_records(
    report: PushReport, url: str, api_key: str, retries: int, options: PushOptions
) -> PushSummary:
    """Push a file's records with a progress bar; a failure that stops the push exits 2."""
    with (
        PushProgress(len(report.records)) as progress,
        PushClient(url, api_key, retries=retries, on_retry=progress.retrying) as client,
    ):
        try:
            options["progress"] = progress.advance
            return client.push(report.endpoint, report.records, **options)
        except PushApiError as error:
            fail(push_failure(error, url, report.endpoint), status=2)


PushEndpointName = Annotated[
    str,
    typer.Argument(metavar="ENDPOINT", help=f"One of: {'|'.join(ENDPOINTS)}", show_default=False),
]


@app.command()
def push(
    endpoint: PushEndpointName,
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="JSON array (.json), NDJSON (.ndjson) or CSV (.csv)"),
    ],
    url: Annotated[
        str, typer.Option(envvar="PUSHAPI_URL", show_envvar=True, help="The server's base URL")
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="PUSHAPI_API_KEY", show_envvar=True, help="The tenant's API key"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per request")] = (
        DEFAULT_BATCH_SIZE
    ),
    file_format: Annotated[
        str | None, typer.Option("--format", help="json, ndjson or csv (default: by file name)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="Lists from CSV: Add, Remove or Replace")] = None,
    retries: Annotated[
        int, typer.Option(min=0, help="Retries of a request on 429, 5xx and connection errors")
    ] = 5,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            metavar="reject|skip",
            help="A batch holding an invalid record: reject the batch, or skip the invalid "
            "records and apply the others",
        ),
    ] = "reject",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="The server checks and counts everything, and changes nothing",
        ),
    ] = False,
    check_locally: Annotated[
        bool,
        typer.Option(
            "--check-locally",
            help="Validate the records with this version's rules, on this machine; send nothing",
        ),
    ] = False,
    json: Json = False,
) -> None:
    """Push a file's records in batches; exit 0 all applied, 1 a batch rejected or a record
    skipped, 2 failed."""
    if endpoint not in ENDPOINTS:
        fail(f"unknown endpoint {endpoint!r}; use one of {', '.join(ENDPOINTS)}", status=2)
    if on_error not in ("reject", "skip"):
        fail(f"--on-error must be reject or skip, got {on_error!r}", status=2)
    if not check_locally and not api_key:
        fail("no API key: pass --api-key or set PUSHAPI_API_KEY", status=2)
    _check_url(url)
    options = PushOptions(
        batch_size=batch_size,
        dry_run=dry_run,
        on_error="skip" if on_error == "skip" else "reject",
    )
    try:
        records = RecordFile(file, endpoint, file_format, mode)
        report = PushReport(endpoint, file, records)
        if check_locally:
            report.check_locally()
        else:
            assert api_key is not None
            report.summary = _push_records(report, url, api_key, retries, options)
    except FileProblem as problem:
        fail(f"{file}: {problem}", status=2)
    except NoLocalSchema as problem:
        fail(str(problem), status=2)
    report.finish()
    if json:
        print_json(report.as_json())
    else:
        print("\n".join(report.lines()))
    if not report.ok:
        raise SystemExit(1)
