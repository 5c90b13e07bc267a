"""``docs/configuration.md``, generated: every setting of every settings class in the
backend, its environment variable, default and meaning (the comments above and beside the
field in the class), and the few variables read outside a settings class.

``python -m backend.configdoc`` prints it; ``--write`` writes the file; ``--check`` exits 1
naming what differs. A test runs ``--check``, so a setting added without running this fails.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import io
import pkgutil
import sys
import tokenize
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "docs" / "configuration.md"

# Read with os.environ where a settings class cannot be used (command-line defaults, the
# migration entry point, the development stack); kept here so the page names them too.
OUTSIDE_CLASSES: tuple[tuple[str, str, str], ...] = (
    (
        "SR_MQTT_ADMIN_USERNAME",
        "`admin`",
        "the broker's dynamic-security admin account; with its password the API mounts "
        "`/api/devices/accounts` (provision, list, revoke) and `python -m backend.accounts` "
        "uses it",
    ),
    (
        "SR_MQTT_ADMIN_PASSWORD",
        "unset",
        "the admin account's password (unset: no live provisioning)",
    ),
    (
        "SR_LOG_FORMAT",
        "`json`",
        "how the worker, the API and the retention job log (backend/logs.py, set up before the "
        "settings are read): `json`, one object per line, or `text` for reading by eye",
    ),
    ("SR_LOG_LEVEL", "`INFO`", "the lowest level logged: `DEBUG` adds a line per batch"),
    (
        "SR_DB_SUPERUSER_URL",
        "unset",
        "`backend.deploy db-prepare`/`db-drop` only: a PostgreSQL superuser's URL (the one "
        "step that creates the owner role, the database and the PostGIS extension)",
    ),
    ("SR_DB_PASSWORD", "unset", "`backend.deploy db-prepare`: the password of the owner role"),
    (
        "SR_DESK_PASSWORD",
        "unset",
        "the runbook's first administrator's password "
        "(`backend.people person create ... --password-env SR_DESK_PASSWORD`)",
    ),
    (
        "SR_EMQX_API_URL",
        "unset",
        "`backend.deploy fleet`: EMQX's REST API (e.g. `https://emqx1:18084/api/v5`); set, "
        "accounts and revocations go to EMQX as well",
    ),
    ("SR_EMQX_API_KEY", "unset", "`backend.deploy fleet`: the EMQX API key"),
    ("SR_EMQX_API_SECRET", "unset", "`backend.deploy fleet`: the EMQX API key's secret"),
    (
        "SR_DEV_VAR",
        "`var`",
        "`make run` only: the folder of its database, broker files, secrets, logs and pid file",
    ),
    ("SR_DEV_MQTT_PORT", "`11883`", "`make run` only: the broker's port"),
    ("SR_DEV_HTTP_PORT", "`18080`", "`make run` only: the API's and the desk's port"),
    (
        "SR_DEV_READY_TIMEOUT_S",
        "`30`",
        "`make run` only: how long a process may take to say ready at start before the start fails",
    ),
    (
        "SR_DEV_UNREADY_RESTART_S",
        "`30`",
        "`make run` only: a worker or API answering \"not ready\" this long is restarted",
    ),
    (
        "SR_DEV_UNANSWERED_RESTART_S",
        "`10`",
        "`make run` only: a worker or API whose health endpoint is silent this long is restarted",
    ),
    (
        "SR_DEV_BROKER_KIND",
        "set by `make run`",
        "what `make run` tells its children about the broker (`embedded`: no accounts); not for "
        "people to set",
    ),
    (
        "SR_DEV_BROKER",
        "unset",
        "`make run` only: `mosquitto` or `embedded` forces the broker (unset: Mosquitto when "
        "installed, else the embedded one)",
    ),
)


@dataclass(frozen=True, slots=True)
class Setting:
    env: str
    default: str
    meaning: str


def settings_classes() -> list[type[BaseSettings]]:
    """Every ``BaseSettings`` subclass defined in a module of ``backend`` (imported here)."""
    import backend

    found: dict[str, type[BaseSettings]] = {}
    for info in pkgutil.walk_packages(backend.__path__, "backend."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseSettings)
                and value is not BaseSettings
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


def _comments(cls: type[BaseSettings]) -> dict[str, str]:
    """field name -> the comment lines right above it and the comment at its end, joined."""
    lines, _ = inspect.getsourcelines(cls)
    source = "".join(lines)
    tree = ast.parse(source)
    inline: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            inline[token.start[0]] = token.string.lstrip("#").strip()
    out: dict[str, str] = {}
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    previous: tuple[int, str] | None = None  # (last line, comment) of the field above
    for node in body.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        above: list[str] = []
        row = node.lineno - 1  # 1-based line above the field
        while row >= 1 and lines[row - 1].strip().startswith("#"):
            above.insert(0, lines[row - 1].strip().lstrip("#").strip())
            row -= 1
        end = node.end_lineno or node.lineno
        parts = [*above]
        if end in inline and not lines[end - 1].strip().startswith("#"):
            parts.append(inline[end])
        comment = " ".join(parts)
        if not comment and previous is not None and previous[0] == node.lineno - 1:
            comment = previous[1]  # a group of fields under one comment
        out[node.target.id] = comment
        previous = (end, comment)
    return out


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`on`" if value else "`off`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, Path):
        try:
            return f"`{value.relative_to(REPO)}`"
        except ValueError:
            return f"`{value}`"
    if isinstance(value, str) and value == "":
        return "empty"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def settings_of(cls: type[BaseSettings]) -> list[Setting]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    comments = _comments(cls)
    rows = []
    for name, field in cls.model_fields.items():
        meaning = field.description or comments.get(name, "")
        if not meaning:
            raise ValueError(
                f"{cls.__module__}.{cls.__qualname__}.{name} has no comment: write what it "
                "means on the line above the field (it becomes its line in "
                "docs/configuration.md)"
            )
        rows.append(Setting(f"{prefix}{name}".upper(), _default(field.default), meaning))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    out = [
        "# Configuration",
        "",
        "Every setting is an environment variable. This page is generated from the settings",
        "classes (`python -m backend.configdoc --write`; a test fails when it is stale), so",
        "what is here is what the code reads. A secret (`SR_DATABASE_URL`,",
        "`SR_DB_SUPERUSER_URL`, and every variable with `PASSWORD`, `SECRET`, `COOKIE`,",
        "`TOKEN`, `PIN` or `API_KEY` in its name) can instead come from a file, as",
        "`SR_X_FILE=/path` (`backend/secret_env.py`); one still set to a `change-me`",
        "placeholder, or a `_FILE` that cannot be read, stops the process with a message",
        "naming the variable ([operations.md](operations.md)).",
        "",
    ]
    for cls in settings_classes():
        own = cls.__dict__.get("__doc__") or ""
        doc = inspect.cleandoc(own).split("\n\n")[0].replace("\n", " ")
        out += [f"## `{cls.__module__}.{cls.__qualname__}`", ""]
        if doc:
            out += [doc, ""]
        out += ["| variable | default | meaning |", "|---|---|---|"]
        out += [
            f"| `{s.env}` | {_cell(s.default)} | {_cell(s.meaning)} |" for s in settings_of(cls)
        ]
        out.append("")
    out += [
        "## Read outside a settings class",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    out += [
        f"| `{env}` | {default} | {_cell(meaning)} |" for env, default, meaning in OUTSIDE_CLASSES
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {TARGET.relative_to(REPO)}")
    group.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        TARGET.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            sys.stderr.write(
                f"{TARGET.relative_to(REPO)} is stale: run `python -m backend.configdoc --write`\n"
            )
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
