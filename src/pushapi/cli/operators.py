"""`pushapi operators ...` (SPEC 9): who may sign in to the console and see every tenant."""

from typing import Annotated

import typer

from pushapi.cli.common import (
    DEFAULT_DATABASE_URL,
    CliError,
    DatabaseUrl,
    Json,
    database,
    print_json,
)

operators_app = typer.Typer(help="Operators of the web console.", no_args_is_help=True)


@operators_app.command("create")
def operators_create(
    name: Annotated[str, typer.Argument(help="Operator name, e.g. alice")],
    json: Json = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Create an operator with a generated password (shown once; only its hash is kept)."""
    from pushapi.store.operators import OperatorError, create_operator

    with database(database_url) as engine:
        try:
            password = create_operator(engine, name)
        except OperatorError as error:
            raise CliError(str(error)) from None
    if json:
        print_json({"name": name, "password": password})
        return
    print(f"Created operator {name!r}. Its password, shown only once:")
    print(password)


@operators_app.command("list")
def operators_list(json: Json = False, database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """List operators (never their passwords)."""
    from pushapi.store.operators import list_operators

    with database(database_url) as engine:
        found = list_operators(engine)
    if json:
        print_json([{"name": o.name, "created_at": o.created_at.isoformat()} for o in found])
        return
    for o in found:
        print(f"{o.name}\tcreated {o.created_at:%Y-%m-%d %H:%M:%S}Z")


@operators_app.command("delete")
def operators_delete(
    name: Annotated[str, typer.Argument(help="Operator name")],
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Delete an operator; its console sessions end at once."""
    from pushapi.store.operators import OperatorError, delete_operator

    with database(database_url) as engine:
        try:
            delete_operator(engine, name)
        except OperatorError as error:
            raise CliError(str(error)) from None
    print(f"deleted operator {name!r}")
