"""What `pushapi push` shows: a progress bar on a terminal, and the summary of a push by file
record (text, or JSON with --json), with the server's errors at the file's lines."""

import time
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pushapi.cli.files import RecordFile
from pushapi.client import (
    BatchOutcome,
    ErrorResponse,
    Issue,
    NotFound,
    PushApiError,
    PushSummary,
    Unauthorized,
)

SHOWN_ISSUES = 50  # per kind in the text summary; --json lists them all
SHOWN_RANGES = 10


class NoLocalSchema(Exception):
    """--check-locally for an endpoint whose field table this version does not have."""


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


class PushProgress:
    """A progress bar of records and batches on stderr when it is a terminal; silent otherwise."""

    def __init__(self, total: int) -> None:
        console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records, batch {task.fields[batch]}/{task.fields[batches]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self.task = self.bar.add_task("pushing", total=total, batch=0, batches="?")

    def __enter__(self) -> "PushProgress":
        self.bar.start()
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.bar.stop()

    def advance(self, summary: PushSummary, _outcome: BatchOutcome) -> None:
        self.bar.update(
            self.task,
            completed=summary.done,
            batch=len(summary.batches),
            batches=summary.planned_batches,
            description="pushing",
        )

    def retrying(self, seconds: float, reason: str) -> None:
        self.bar.update(self.task, description=f"{reason}, retry in {seconds:.0f} s")


def push_failure(error: PushApiError, url: str, endpoint: str) -> str:
    """One line for an error that stopped a push (exit status 2)."""
    if isinstance(error, Unauthorized):
        text = f"{url} refused the API key (401): {error.message}"
    elif isinstance(error, NotFound):
        text = f"{url} has no /v2/{endpoint} endpoint (404)"
    elif isinstance(error, ErrorResponse):
        text = f"{url}/v2/{endpoint} answered {error.status} {error.code}: {error.message}"
    else:
        text = str(error)
    summary = error.summary
    if summary is not None and summary.batches:
        text += (
            f"; {len(summary.batches)} of {summary.planned_batches} batches "
            f"({summary.done} records) were answered before"
        )
    return " ".join(text.split())


class PushReport:
    """What a push of a file did (or, with --check-locally, what local validation found)."""

    def __init__(self, endpoint: str, file: Path, records: RecordFile) -> None:
        self.endpoint = endpoint
        self.file = file
        self.records = records
        self.summary: PushSummary | None = None
        self.warnings: list[Issue] = []
        self.errors: list[Issue] = []
        self.started = time.perf_counter()
        self.seconds = 0.0

    def check_locally(self) -> None:
        """Validate every record with the server's own field tables and parser; send nothing."""
        from pushapi.push.endpoints import ENDPOINTS_BY_NAME  # the server's registry: one source
        from pushapi.schema.fields import Report, parse_object

        endpoint = ENDPOINTS_BY_NAME.get(self.endpoint)
        if endpoint is None:
            raise NoLocalSchema(
                f"--check-locally: this version cannot check /v2/{self.endpoint} records"
            )
        report = Report()
        for index, record in enumerate(self.records):
            parse_object(endpoint.schema, record, index, "", report)
        self.warnings = [Issue(w.index, w.path, w.message) for w in report.warnings]
        self.errors = [Issue(e.index, e.path, e.message) for e in report.errors]

    def finish(self) -> None:
        self.seconds = time.perf_counter() - self.started
        if self.summary is not None:
            self.warnings, self.errors = self.summary.warnings, self.summary.errors

    @property
    def ok(self) -> bool:
        return not self.errors and (self.summary is None or self.summary.ok)

    @property
    def dry_run(self) -> bool:
        """Whether the server ran the push as a dry run (--dry-run)."""
        return self.summary is not None and any(b.dry_run for b in self.summary.batches)

    def _issue_json(self, issue: Issue) -> dict[str, Any]:
        return {
            "record": issue.index + 1,
            "line": self.records.line(issue.index),
            "path": issue.path,
            "message": issue.message,
        }

    def _issue_lines(self, kind: str, issues: list[Issue]) -> list[str]:
        lines = [f"{kind}: {len(issues)}"]
        lines += [
            f"  {self.records.where(i.index)}: {i.path}: {i.message}" for i in issues[:SHOWN_ISSUES]
        ]
        if len(issues) > SHOWN_ISSUES:
            lines.append(f"  ... and {len(issues) - SHOWN_ISSUES} more (--json lists them all)")
        return lines

    def _span(self, batch: BatchOutcome) -> str:
        first, last = batch.first, batch.first + batch.count - 1
        first_line, last_line = self.records.line(first), self.records.line(last)
        if first_line is not None and last_line is not None:
            return f"lines {first_line}-{last_line}"
        return f"records {first + 1}-{last + 1}"

    def lines(self) -> list[str]:
        """The text summary."""
        count, name = len(self.records), self.file.name
        summary = self.summary
        if summary is None:
            lines = [
                f"Checked {count} records of {name} for /v2/{self.endpoint} locally "
                f"(--check-locally: nothing was sent)."
            ]
        else:
            rate = f", {count / self.seconds:.0f} records/s" if self.seconds >= 0.001 else ""
            dry = self.dry_run
            lines = [
                f"Sent {count} records of {name} to /v2/{self.endpoint} in "
                f"{_count(len(summary.batches), 'batch', 'batches')} ({self.seconds:.1f} s{rate})"
                + (
                    " as a dry run: nothing was changed; the counts say what a push would do."
                    if dry
                    else "."
                ),
                f"created {summary.created}, updated {summary.updated}, "
                f"deleted {summary.deleted}, unchanged {summary.unchanged}, "
                f"rejected {summary.skipped}",
            ]
            if summary.retries:
                lines.append(f"retried: {summary.retries} requests (429, 5xx or connection)")
        lines += self._issue_lines("warnings", self.warnings)
        if summary is not None and summary.rejected:
            rejected = summary.rejected
            spans = ", ".join(self._span(batch) for batch in rejected[:SHOWN_RANGES])
            more = ", ..." if len(rejected) > SHOWN_RANGES else ""
            lines.append(
                f"rejected: {len(rejected)} of {len(summary.batches)} batches, "
                f"{sum(b.count for b in rejected)} records not applied ({spans}{more})"
            )
        if summary is not None and summary.skipped:
            lines.append(
                f"skipped: {_count(summary.skipped, 'invalid record', 'invalid records')} "
                "left out (--on-error skip), each named under errors; the others were applied"
                + (" (dry run: would be)" if self.dry_run else "")
            )
        lines += self._issue_lines("errors", self.errors)
        if summary is not None and not summary.ok and not self.dry_run:
            lines.append(
                "Fix the records named above and push the file again; "
                "records already applied will count as unchanged."
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary (--json)."""
        result: dict[str, Any] = {
            "endpoint": self.endpoint,
            "file": str(self.file),
            "checked_locally": self.summary is None,
            "dry_run": self.dry_run,
            "records": len(self.records),
            "seconds": round(self.seconds, 3),
        }
        summary = self.summary
        if summary is not None:
            result.update(
                batches=len(summary.batches),
                rejected_batches=len(summary.rejected),
                received=summary.received,
                created=summary.created,
                updated=summary.updated,
                deleted=summary.deleted,
                unchanged=summary.unchanged,
                rejected=summary.skipped,
                not_applied=sum(batch.count for batch in summary.rejected) + summary.skipped,
                retries=summary.retries,
            )
        result["warnings"] = [self._issue_json(issue) for issue in self.warnings]
        result["errors"] = [self._issue_json(issue) for issue in self.errors]
        if summary is not None:
            result["requests"] = [
                {
                    "request_id": batch.request_id,
                    "status": batch.status,
                    "first_record": batch.first + 1,
                    "records": batch.count,
                }
                for batch in summary.batches
            ]
        return result
