"""Project-level rules: import direction, protocol stays stdlib-only, compose file is valid."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_import_contracts_hold() -> None:
    result = subprocess.run([BIN / "lint-imports"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _layers_contract() -> dict[str, Any]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c for c in contracts if c["type"] == "layers" and c["containers"] == ["backend"]]
    return layers


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports by absolute name (``from a.b import c`` counts a.b and
    a.b.c: c may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_table_registry_sits_above_the_domains_with_no_exemption() -> None:
    """backend.tables imports every table; it is in the top layer, so the layers contract
    needs no ignore_imports, and no other backend module reads tables through it (each imports
    them from the owning domain's models) but the Alembic environment."""
    layers = _layers_contract()
    assert "ignore_imports" not in layers, layers.get("ignore_imports")
    top = [name.strip() for name in layers["layers"][0].split("|")]
    assert "tables" in top
    assert not (REPO / "backend" / "db" / "models.py").exists()
    through_registry = []
    for root in ("backend", "tests", "devstack", "bench", "scripts"):
        for path in sorted((REPO / root).rglob("*.py")):
            imported = _imported_modules(path)
            where = str(path.relative_to(REPO))
            if imported & {"backend.db.models"}:
                through_registry.append(f"{where}: backend.db.models (gone: use backend.tables)")
            if (
                root == "backend"
                and "backend.tables" in imported
                and where != "backend/migrations/env.py"
            ):
                through_registry.append(f"{where}: backend.tables (import the domain's models)")
    assert not through_registry, through_registry


def test_the_table_registry_holds_every_table() -> None:
    """Importing every module that declares a table adds none to what backend.tables gives
    Alembic."""
    code = (
        "import importlib, pathlib\n"
        "from backend.tables import Base\n"
        "known = set(Base.metadata.tables)\n"
        "for path in sorted(pathlib.Path('backend').rglob('*.py')):\n"
        "    if '__tablename__' in path.read_text(encoding='utf-8'):\n"
        "        importlib.import_module('.'.join(path.with_suffix('').parts))\n"
        "print(sorted(set(Base.metadata.tables) - known))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"tables missing from backend/tables.py: {done.stdout}"


def _imported_top_level(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_protocol_uses_only_the_standard_library() -> None:
    """protocol/ runs inside the Android build of the app: nothing from PyPI."""
    for path in (REPO / "protocol").rglob("*.py"):
        foreign = {
            name
            for name in _imported_top_level(path)
            if name not in sys.stdlib_module_names and name != "protocol"
        }
        assert not foreign, f"{path.relative_to(REPO)} imports {sorted(foreign)}"


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )


def test_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    result = _check_compose(REPO / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # The check can fail: a misspelt key is refused.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        (REPO / "docker-compose.yml").read_text().replace("healthcheck:", "healthchek:", 1)
    )
    assert _check_compose(broken).returncode != 0


@pytest.mark.parametrize("profile", [None, "cluster"])
def test_docker_compose_accepts_the_file(profile: str | None, tmp_path: Path) -> None:
    """`docker-compose config` (Debian's docker-compose 1.29, which needs no engine) resolves
    the file, its secrets and profiles; a misspelt key is refused."""
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: run `make deps` (it installs Debian's docker-compose)"
    args = [tool, "-f", "docker-compose.yml", *(["--profile", profile] if profile else [])]
    done = subprocess.run([*args, "config", "-q"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        (REPO / "docker-compose.yml").read_text().replace("restart:", "restrat:", 1)
    )
    bad = subprocess.run(
        [tool, "-f", str(broken), "config", "-q"], cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode != 0, "a misspelt key must be refused"


def test_compose_wires_the_stack_as_documented() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"mosquitto", "postgis", "api", "worker-1", "worker-2", "emqx1", "emqx2"} <= set(
        services
    )
    mounts = services["mosquitto"]["volumes"]
    assert any(m.endswith(":/mosquitto/config/mosquitto-production.conf:ro") for m in mounts)
    everything = yaml.safe_dump(services)
    assert "ca.key" not in everything and "./broker_config/certs:" not in everything
    for name in ("mosquitto", "postgis", "api", "worker-1", "worker-2"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    worker_ids = {
        services[w]["environment"]["SR_WORKER_CLIENT_ID"] for w in ("worker-1", "worker-2")
    }
    assert len(worker_ids) == 2, "each worker needs its own persistent session"
    for name in ("api", "worker-1"):
        env = services[name]["environment"]
        assert env["SR_DATABASE_URL_FILE"] == "/run/secrets/database_url"
    assert services["emqx1"]["profiles"] == ["cluster"]


@pytest.mark.parametrize("target", ["run", "test"])
def test_readme_opens_with_the_two_commands(target: str) -> None:
    head = (REPO / "README.md").read_text().split("\n## ")[0]
    assert f"make {target}" in head
    makefile = (REPO / "Makefile").read_text()
    assert f"\n{target}:" in makefile


def test_markers_are_assigned_by_the_hook_not_by_hand() -> None:
    """`integration` and `slow` come from tests/conftest.py (what a test starts, how long it
    may run), so `make check` cannot be fooled by a forgotten or stale marker."""
    needles = tuple(f"pytest.mark.{name}" for name in ("integration", "slow"))
    by_hand = [
        f"{path.relative_to(REPO)}:{n}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        if path != REPO / "tests" / "conftest.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(needle in line for needle in needles)
    ]
    assert not by_hand, f"markers set by hand: {by_hand}"
