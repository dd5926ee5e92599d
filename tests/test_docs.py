"""The docs keep up with the code: every setting, CLI command, option and endpoint is documented,
every pushed field is described, links resolve, and the README's quick start is the one SPEC 2
pins."""

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import TEST_VARIABLES

from pushapi import cli
from pushapi.app import create_app
from pushapi.config import Settings
from pushapi.push.endpoints import PUSH_ENDPOINTS
from pushapi.schema.fields import walk

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
INTEGRATORS = ROOT / "docs" / "integrators.md"
# SPEC 2: the README's quick start has exactly these two commands (`.ci/run` runs the second).
QUICK_START = (
    "pip install -e . && pushapi serve --demo",
    "pip install -e '.[test]' && pytest",
)


def _commands(group: Any, prefix: str = "pushapi") -> Iterator[tuple[str, Any]]:
    """Every runnable command of the CLI with its full name, e.g. `pushapi tenants create`."""
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


COMMANDS = dict(_commands(typer.main.get_command(cli.app)))


def _sections(markdown: str) -> dict[str, str]:
    """Each heading's text mapped to its section (up to the next heading of the same level or
    higher)."""
    headings = list(re.finditer(r"^(#+)\s+(.*)$", markdown, flags=re.MULTILINE))
    sections = {}
    for position, heading in enumerate(headings):
        level = len(heading.group(1))
        end = len(markdown)
        for later in headings[position + 1 :]:
            if len(later.group(1)) <= level:
                end = later.start()
                break
        sections[heading.group(2).strip()] = markdown[heading.start() : end]
    return sections


def _code_lines(markdown: str) -> list[str]:
    """The lines inside fenced code blocks."""
    lines, inside = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line.strip())
    return lines


def _row(markdown: str, name: str) -> str:
    """The table row of the docs that starts by naming `name`."""
    for line in markdown.splitlines():
        if line.startswith("|") and f"`{name}`" in line.split("|")[1]:
            return line
    raise AssertionError(f"no table row for {name} in {CONFIGURATION.name}")


# -- configuration.md --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_default(name):
    field = Settings.model_fields[name]
    row = _row(CONFIGURATION.read_text(), f"PUSHAPI_{name.upper()}")
    assert str(field.default) in row, f"default {field.default!r} of {name} missing in: {row}"


def test_configuration_names_no_variable_that_does_not_exist():
    known = {f"PUSHAPI_{name.upper()}" for name in Settings.model_fields} | TEST_VARIABLES
    for command in COMMANDS.values():
        known |= {param.envvar for param in command.params if isinstance(param.envvar, str)}
    for path in (CONFIGURATION, README, INTEGRATORS):
        named = set(re.findall(r"PUSHAPI_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
        assert named <= known, f"{path.name} names unknown variables: {sorted(named - known)}"


@pytest.mark.parametrize("command_name", sorted(COMMANDS))
def test_every_cli_command_and_option_is_documented(command_name):
    sections = _sections(CONFIGURATION.read_text())
    titled = [text for title, text in sections.items() if f"`{command_name}" in title]
    assert titled, f"no section titled `{command_name} ...` in {CONFIGURATION.name}"
    section = titled[0]
    for param in COMMANDS[command_name].params:
        if param.param_type_name == "option":
            for option in param.opts:
                assert option in section, f"{option} of {command_name} is not documented"
        else:
            assert param.name.upper() in section, f"{param.name} of {command_name} undocumented"


# -- README ------------------------------------------------------------------------------------


def test_readme_quick_start_is_exactly_the_two_pinned_commands():
    sections = _sections(README.read_text())
    quick_start = next(text for title, text in sections.items() if title.lower() == "quick start")
    commands = [line for line in _code_lines(quick_start) if line and not line.startswith("#")]
    assert commands == list(QUICK_START)


@pytest.mark.parametrize(
    "path", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_relative_links_of_the_docs_resolve(path):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


# -- integrators.md ----------------------------------------------------------------------------


def _endpoints() -> list[tuple[str, str]]:
    """(METHOD, path) of every /v2 route, as the app's OpenAPI document lists its routes."""
    database = Path(tempfile.gettempdir()) / "pushapi-docs-never-opened.db"
    app = create_app(Settings(database_url=f"sqlite:///{database}"))
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v2/")
        for method in operations
    )


def _path_pattern(method: str, path: str) -> str:
    """`GET /v2/contacts/{contact_id}` matches `GET /v2/contacts/{ContactId}` in a doc."""
    parts = re.split(r"\{[^}]*\}", path)
    pattern = r"\{[^}\s]+\}".join(re.escape(part) for part in parts)
    return rf"{method} {pattern}(?![\w/{{-])"


@pytest.mark.parametrize(("method", "path"), _endpoints())
def test_every_endpoint_is_documented_for_integrators(method, path):
    assert re.search(_path_pattern(method, path), INTEGRATORS.read_text()), (
        f"{method} {path} is not in {INTEGRATORS.name}"
    )


@pytest.mark.parametrize("endpoint", PUSH_ENDPOINTS, ids=lambda e: e.name)
def test_every_pushed_field_is_described_for_integrators(endpoint):
    sections = _sections(INTEGRATORS.read_text())
    for schema in walk(endpoint.schema):
        titled = [
            text for title, text in sections.items() if re.search(rf"\b{schema.name}\b", title)
        ]
        assert titled, f"no section of {INTEGRATORS.name} is titled with {schema.name}"
        missing = [
            field.name
            for field in schema.fields
            if not any(f"`{field.name}`" in text for text in titled)
        ]
        assert not missing, f"{schema.name} fields not described: {missing}"
