"""The `pushapi` command (SPEC 2): the operator's commands (admin.py) and the push client
(push.py). User errors print one line to stderr and exit non-zero, never a traceback."""

import sys
from collections.abc import Callable
from typing import Any

import typer

from pushapi.cli import admin, operators, push, webhooks
from pushapi.cli.common import CliError, fail
from pushapi.tenants import TenantError

try:  # Typer >= 0.26 carries its own copy of click's exceptions
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older Typer uses click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

app = typer.Typer(
    help="pushapi: an open, self-hostable Push API v2 server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.registered_commands += admin.app.registered_commands + push.app.registered_commands
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.tenants_app, name="tenants")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.add_typer(operators.operators_app, name="operators")


def _settings_problems(error: Any) -> str | None:
    """Name the environment variables Settings refused, each with what it expects; None when
    `error` is not a refusal of the settings."""
    pydantic = sys.modules.get("pydantic")  # only Settings, which imports it, can refuse them
    if pydantic is None or not isinstance(error, pydantic.ValidationError):
        return None
    problems = []
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"]).upper()
        problems.append(f"PUSHAPI_{name}: {problem['msg']}")
    return "; ".join(problems)


def run(command: Callable[..., Any], args: list[str] | None = None) -> None:
    """Run a click command, turning user errors into one line on stderr and a non-zero exit."""
    try:
        command(args=args, prog_name="pushapi", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as shown:
        print(shown.ctx.get_help() if shown.ctx else "", file=sys.stderr)
        raise SystemExit(2) from None
    except click_errors.UsageError as error:
        fail(error.format_message().replace("\n", " "), status=2)
    except click_errors.ClickException as error:
        fail(error.format_message().replace("\n", " "))
    except typer.Abort:
        fail("aborted")
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None
    except (CliError, TenantError) as error:
        fail(str(error))
    except KeyboardInterrupt:
        fail("interrupted", status=130)
    except Exception as error:
        problems = _settings_problems(error)  # a PUSHAPI_* variable that Settings refuses
        if problems is None:
            raise
        fail(f"invalid setting: {problems}")


def main() -> None:
    """Console-script entry point."""
    run(typer.main.get_command(app))
