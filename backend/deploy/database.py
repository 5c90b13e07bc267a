"""PostGIS for a non-superuser owner: the superuser step, migrations, backup, restore, upgrade.

PostGIS 3 is not a trusted extension: ``CREATE EXTENSION postgis`` needs a superuser. So a
deployment has one step that is run as a superuser and says so (:func:`prepare`: the owner
role, the database it owns, the extension), and everything else runs as the owner, who is
not a superuser: the migrations (:func:`migrate`), the application, :func:`backup` and
:func:`restore`. A backup's entries for the extension itself (which the owner cannot create
or comment on) are left out of a restore; the extension comes from the superuser step.

Passwords never go on a command line: ``pg_dump``/``pg_restore`` get them as PGPASSWORD.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from backend.db import migrate as migrations
from backend.deploy.files import DeployError

EXTENSION_ENTRY = " EXTENSION "  # pg_restore -l: "... EXTENSION - postgis", "COMMENT - EXTENSION"


@dataclass(frozen=True)
class Conninfo:
    """A libpq connection string without the password, and the password apart."""

    dsn: str
    password: str | None
    database: str
    user: str

    @classmethod
    def parse(cls, url: str) -> Conninfo:
        parsed = make_url(url)
        if not parsed.drivername.startswith("postgresql"):
            raise DeployError(
                f"{parsed.drivername}: a PostgreSQL URL is needed here "
                "(postgresql+psycopg://OWNER:PASSWORD@HOST:PORT/DATABASE)"
            )
        parts = [f"dbname={parsed.database or 'postgres'}", f"user={parsed.username or ''}"]
        if parsed.host:
            parts.append(f"host={parsed.host}")
        if parsed.port:
            parts.append(f"port={parsed.port}")
        host_query = parsed.query.get("host")
        if host_query:
            parts.append(f"host={host_query}")
        return cls(" ".join(parts), parsed.password, parsed.database or "", parsed.username or "")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self, dbname: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        dsn = self.dsn if dbname is None else f"{self.dsn} dbname={dbname}"
        try:
            return psycopg.connect(dsn, password=self.password, autocommit=True)
        except psycopg.OperationalError as exc:
            raise DeployError(f"cannot connect ({self.dsn}): {str(exc).strip()}") from None


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise DeployError(f"{name} not found: apt-get install postgresql-client")


def prepare(superuser_url: str, database: str, owner: str, owner_password: str) -> list[str]:
    """THE SUPERUSER STEP: the login role ``owner`` (no superuser, no CREATEDB, no
    CREATEROLE) with ``owner_password``, the database ``database`` it owns, and the PostGIS
    extension in it. Idempotent; returns what it did."""
    su = Conninfo.parse(superuser_url)
    done: list[str] = []
    with su.connect() as conn:
        is_super = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = is_super.fetchone()
        if not row or not row[0]:
            raise DeployError(
                f"{su.user} is not a superuser: the superuser step (CREATE EXTENSION postgis) "
                "needs one, e.g. --superuser-url 'postgresql://postgres@/postgres?host="
                "/var/run/postgresql' run as the postgres system user"
            )
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(owner), sql.Literal(owner_password)
            )
        )
        done.append(f"role {owner} {'updated' if exists else 'created'} (login, not superuser)")
        has_db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if has_db.fetchone() is None:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                    sql.Identifier(database), sql.Identifier(owner)
                )
            )
            done.append(f"database {database} created, owned by {owner}")
        else:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(database), sql.Identifier(owner)
                )
            )
            done.append(f"database {database} exists, owned by {owner}")
    with su.connect(database) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
        row = version.fetchone()
        done.append(f"extension postgis {row[0] if row else '?'} in {database}")
    return done


def drop(superuser_url: str, database: str) -> None:
    """Drop ``database`` (a superuser step; for a restore drill or a rebuilt machine)."""
    with Conninfo.parse(superuser_url).connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def _owner_checks(url: str) -> None:
    info = Conninfo.parse(url)
    with info.connect() as conn:
        ext = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone()
        if ext is None:
            raise DeployError(
                f"database {info.database} has no PostGIS extension; run the superuser step "
                "first: python -m backend.deploy db-prepare --superuser-url ... (a non-"
                "superuser owner cannot CREATE EXTENSION postgis)"
            )


def revision(url: str) -> str | None:
    """The schema revision of the database (alembic_version), None before the first."""
    with Conninfo.parse(url).connect() as conn:
        present = conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()
        if not present or present[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None


def migrate(url: str, target: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``target`` as the owner; returns (before, after)."""
    _owner_checks(url)
    before = revision(url)
    migrations.upgrade(url, target)
    return before, revision(url)


def backup(url: str, out_dir: Path) -> Path:
    """A pg_dump (custom format) of the database as its owner into ``out_dir``, a file only
    its owner may read; returns its path."""
    info = Conninfo.parse(url)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = out_dir / f"{info.database}-{stamp}.dump"
    old_umask = os.umask(0o077)
    try:
        result = subprocess.run(
            [_tool("pg_dump"), "--format=custom", "--file", str(target), info.dsn],
            env=info.env(),
            capture_output=True,
            text=True,
        )
    finally:
        os.umask(old_umask)
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        raise DeployError(f"pg_dump failed: {result.stderr.strip()}")
    return target


def restore(url: str, dump: Path) -> int:
    """Restore ``dump`` into the (prepared, empty) database as its owner, without the
    extension's own entries; returns the number of entries restored."""
    info = Conninfo.parse(url)
    _owner_checks(url)
    with info.connect() as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'spatial_ref_sys'"
        ).fetchone()
        if tables and int(str(tables[0])) > 0:
            raise DeployError(
                f"database {info.database} already has {tables[0]} tables: restore into an "
                "empty one (drop it and run the superuser step db-prepare again)"
            )
    listing = subprocess.run(
        [_tool("pg_restore"), "--list", str(dump)], capture_output=True, text=True
    )
    if listing.returncode != 0:
        raise DeployError(f"{dump}: not a pg_dump custom-format file ({listing.stderr.strip()})")
    kept = [
        line
        for line in listing.stdout.splitlines()
        if not line.startswith(";")
        and EXTENSION_ENTRY not in line
        and "spatial_ref_sys" not in line
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as entries:
        entries.write("\n".join(kept) + "\n")
    try:
        result = subprocess.run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                "--use-list",
                entries.name,
                "--dbname",
                info.dsn,
                str(dump),
            ],
            env=info.env(),
            capture_output=True,
            text=True,
        )
    finally:
        Path(entries.name).unlink(missing_ok=True)
    if result.returncode != 0:
        raise DeployError(f"pg_restore failed: {result.stderr.strip()}")
    return len([line for line in kept if line.strip()])
