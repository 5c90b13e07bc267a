"""Secrets from the environment that fail closed.

A secret setting is an ``SR_`` variable whose name says so (``PASSWORD``, ``SECRET``,
``COOKIE``, ``TOKEN``, ``PIN``, ``API_KEY``) or a database URL (``SR_DATABASE_URL``,
``SR_DB_SUPERUSER_URL``: they carry passwords).
Each may also come from a file: ``X_FILE=/run/secrets/x`` sets ``X`` to the file's text (its
trailing newline removed), as Docker secrets and systemd credentials hand them over.
``SR_MQTT_CA_FILE`` is a path, not a secret's file, and is left alone.

:func:`enforce` runs at the start of every backend process (``backend.settings.get_settings``,
``backend.api.create_app``, ``python -m backend.accounts`` and ``python -m backend.deploy``):
a secret that still holds the ``change-me`` placeholder of an example file, a ``*_FILE``
that cannot be read, or a broker username without its password stops the process with a
message naming the variable, never its value. ``make run`` gives its processes generated
secrets, so it never meets the placeholder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Final

PLACEHOLDER: Final = "change-me"
_SECRET_WORDS: Final = ("PASSWORD", "SECRET", "COOKIE", "TOKEN", "PIN", "API_KEY")
_SECRET_NAMES: Final = frozenset({"SR_DATABASE_URL", "SR_DB_SUPERUSER_URL"})


class SecretError(RuntimeError):
    """A secret setting is missing, unreadable or a placeholder; the message names it."""


def is_secret(name: str) -> bool:
    """Whether the environment variable ``name`` holds a secret."""
    if not name.startswith("SR_"):
        return False
    return name in _SECRET_NAMES or any(word in name[3:] for word in _SECRET_WORDS)


def load_secret_files(environ: MutableMapping[str, str]) -> list[str]:
    """Set every secret ``X`` from ``X_FILE`` when that is given; returns the names set."""
    loaded: list[str] = []
    for key in sorted(k for k in environ if k.endswith("_FILE")):
        name = key[: -len("_FILE")]
        if not is_secret(name):
            continue
        path = Path(environ[key])
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(
                f"{key}={path}: cannot read the secret for {name} ({exc.__class__.__name__}: "
                f"{exc.strerror if isinstance(exc, OSError) else exc}); check the path and that "
                "this process's user may read it"
            ) from None
        if not value:
            raise SecretError(f"{key}={path}: the file is empty; put the secret for {name} in it")
        if environ.get(name) not in (None, "", value):
            raise SecretError(
                f"both {name} and {key} are set, to different values: give the secret once"
            )
        environ[name] = value
        loaded.append(name)
    return loaded


def problems(environ: MutableMapping[str, str]) -> list[str]:
    """What is wrong with the secrets in ``environ`` (after :func:`load_secret_files`)."""
    found = [
        f"{name} still holds the placeholder {PLACEHOLDER!r}: set a real secret (or "
        f"{name}_FILE=path to a file holding it)"
        for name in sorted(environ)
        if is_secret(name) and PLACEHOLDER in environ[name].lower()
    ]
    if environ.get("SR_MQTT_USERNAME") and not environ.get("SR_MQTT_PASSWORD"):
        found.append(
            f"SR_MQTT_USERNAME={environ['SR_MQTT_USERNAME']} is set but SR_MQTT_PASSWORD is "
            "missing: set it (or SR_MQTT_PASSWORD_FILE)"
        )
    return found


def check(environ: MutableMapping[str, str] | None = None) -> None:
    """Load ``*_FILE`` secrets into ``environ`` (default ``os.environ``) and raise
    :class:`SecretError` naming every bad one."""
    env = os.environ if environ is None else environ
    load_secret_files(env)
    found = problems(env)
    if found:
        raise SecretError("; ".join(found))


def enforce(process: str | None = None) -> None:
    """:func:`check`, and on failure stop this process with status 78 (configuration
    error) and a message on stderr naming the setting."""
    try:
        check()
    except SecretError as exc:
        who = process or Path(sys.argv[0]).name or "python"
        print(f"{who}: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(78) from None
