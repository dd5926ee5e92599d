"""`pushapi webhooks` (SPEC 8): subscriptions of a tenant to its change feed, and a dedicated
deliverer."""

import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from pushapi.cli.common import (
    DEFAULT_DATABASE_URL,
    CliError,
    DatabaseUrl,
    Json,
    database,
    print_json,
)

webhooks_app = typer.Typer(
    help="Webhooks: the change feed delivered to a URL.", no_args_is_help=True
)

Code = Annotated[str, typer.Argument(help="Tenant code")]
WebhookId = Annotated[str, typer.Argument(help="Webhook id, as `webhooks list` shows it")]


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@webhooks_app.command("create")
def webhooks_create(
    code: Code,
    url: Annotated[str, typer.Argument(help="http:// or https:// URL the events are POSTed to")],
    types: Annotated[
        str | None,
        typer.Option(help="Comma-separated event types to deliver (default: every type)"),
    ] = None,
    from_seq: Annotated[
        int | None,
        typer.Option(
            "--from-seq",
            help="Deliver the events after this seq (0: every event kept); "
            "default: only events after now",
        ),
    ] = None,
    json: Json = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Subscribe a URL to a tenant's change events; prints the signing secret once."""
    from pushapi.store.webhooks import WebhookError, create_webhook

    wanted = None if types is None else [name.strip() for name in types.split(",")]
    with database(database_url) as engine:
        try:
            made = create_webhook(engine, code, url, wanted, from_seq, datetime.now(UTC))
        except WebhookError as problem:
            raise CliError(str(problem)) from None
    if json:
        print_json({"id": made.webhook_id, "url": made.url,
                    "types": None if made.types is None else list(made.types),
                    "secret": made.secret})  # fmt: skip
        return
    shown = "every type" if made.types is None else ", ".join(made.types)
    print(f"Created webhook {made.webhook_id} of tenant {code!r}: {made.url} ({shown}),")
    print(f"from the events after seq {made.delivered_seq}. Signing secret, shown only once:")
    print(made.secret)


@webhooks_app.command("list")
def webhooks_list(
    code: Code, json: Json = False, database_url: DatabaseUrl = DEFAULT_DATABASE_URL
) -> None:
    """List a tenant's webhooks: state, last delivered seq, lag, last error (never secrets)."""
    from pushapi.store.webhooks import list_webhooks

    with database(database_url) as engine:
        found = list_webhooks(engine, code)
    rows: list[dict[str, Any]] = [
        {
            "id": s.webhook_id,
            "url": s.url,
            "types": None if s.types is None else list(s.types),
            "state": s.state,
            "delivered_seq": s.delivered_seq,
            "lag": lag,
            "last_error": s.last_error,
            "failing_since": _when(s.failing_since),
            "next_attempt_at": _when(s.next_attempt_at),
            "created_at": _when(s.created_at),
        }
        for s, lag in found
    ]
    if json:
        print_json(rows)
        return
    for row in rows:
        error = f"\tlast error: {row['last_error']}" if row["last_error"] else ""
        print(
            f"{row['id']}\t{row['state']}\t{row['url']}\t"
            f"delivered up to seq {row['delivered_seq']}\tlag {row['lag']}{error}"
        )


def _change(database_url: str, code: str, webhook_id: str, action: str) -> None:
    """Delete or enable a subscription; one line says it was done."""
    from pushapi.store import webhooks

    change = {"deleted": webhooks.delete_webhook, "enabled": webhooks.enable_webhook}[action]
    with database(database_url) as engine:
        try:
            change(engine, code, webhook_id)
        except webhooks.WebhookError as problem:
            raise CliError(str(problem)) from None
    print(f"{action} webhook {webhook_id} of tenant {code!r}")


@webhooks_app.command("delete")
def webhooks_delete(
    code: Code, webhook_id: WebhookId, database_url: DatabaseUrl = DEFAULT_DATABASE_URL
) -> None:
    """Delete a webhook; deliveries stop within seconds."""
    _change(database_url, code, webhook_id, "deleted")


@webhooks_app.command("enable")
def webhooks_enable(
    code: Code, webhook_id: WebhookId, database_url: DatabaseUrl = DEFAULT_DATABASE_URL
) -> None:
    """Deliver a disabled (or failing) webhook again, at once, from where it stopped."""
    _change(database_url, code, webhook_id, "enabled")


@webhooks_app.command("run")
def webhooks_run(database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Deliver webhooks in this process until stopped (SIGTERM or Ctrl-C)."""
    from pushapi.config import Settings
    from pushapi.webhooks import Deliverer

    settings = Settings(database_url=database_url)
    with database(database_url) as engine:
        deliverer = Deliverer(engine, timedelta(hours=settings.webhook_disable_hours))
        stopping = False

        def stop(_signum: int, _frame: Any) -> None:
            nonlocal stopping
            stopping = True
            deliverer.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print("pushapi: delivering webhooks; SIGTERM or Ctrl-C stops", file=sys.stderr)
        deliverer.run()
        deliverer.stop()
