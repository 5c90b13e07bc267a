"""The documentation stays true: the README is a front door (short), every link in it and in
docs/ resolves, docs/configuration.md is what the settings classes say and names every
variable the code reads, and no docstring names a module or function that does not exist."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted(
    [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    + [p for p in (REPO / "kiosk_app" / "README.md", REPO / "backend" / "desk" / "README.md",
                   REPO / "data" / "README.md") if p.exists()]
)
PACKAGES = ("protocol", "geo", "backend", "kiosk_app", "devstack", "bench")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def test_the_readme_is_a_front_door() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 260, f"README.md has {lines} lines; move detail to docs/ (at most 260)"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and (m := re.match(r"^#{1,6} (.+)", line)):
            anchors.add(_slug(m.group(1)))
    return anchors


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return LINK.findall(text)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_resolves(doc: Path) -> None:
    broken = []
    for target in _links(doc):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: nothing leaves loopback here
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no such file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not broken, f"{doc.relative_to(REPO)}: " + "; ".join(broken)


def test_configuration_page_is_generated_from_the_settings_classes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backend.configdoc", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_variable_the_code_reads_is_documented() -> None:
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    from backend.configdoc import settings_classes, settings_of

    names = {s.env for cls in settings_classes() for s in settings_of(cls)}
    for package in ("backend", "devstack"):
        for path in (REPO / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            names |= set(re.findall(r"[\"'](SR_[A-Z0-9_]*[A-Z0-9])[\"'=]", source))
    missing = sorted(n for n in names if f"`{n}`" not in page)
    assert not missing, f"not in docs/configuration.md: {missing}"


# --------------------------------------------------------------------------- docstrings


def _module_file(dotted: str) -> Path | None:
    base = REPO / Path(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _bound_names(tree: ast.AST) -> set[str]:
    """Names a module or class body binds at its top level."""
    names: set[str] = set()
    body = getattr(tree, "body", [])
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.If, ast.Try)):
            names |= _bound_names(node)
    return names


def _resolves(dotted: str) -> bool:
    """``backend.x.y`` (a module), ``backend.x.name`` or ``backend.x.Class.attr`` exists."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        path = _module_file(".".join(parts[:cut]))
        if path is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        tree: ast.AST = ast.parse(path.read_text(encoding="utf-8"))
        for name in rest:
            if name not in _bound_names(tree):
                return False
            found = [
                n for n in getattr(tree, "body", []) if isinstance(n, ast.ClassDef) and n.name == name
            ]
            if not found:
                return True  # a function or a value: what follows is beyond a static check
            tree = found[0]
        return True
    return False


def _docstrings(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append((getattr(node, "lineno", 1), doc))
    return found


def _package_names(folder: Path) -> set[str]:
    """The package's modules and subpackages, and every name bound or defined (functions and
    methods included) anywhere in its modules."""
    names = {p.stem for p in folder.glob("*.py")} | {
        p.name for p in folder.iterdir() if (p / "__init__.py").exists()
    }
    for module in folder.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        names |= _bound_names(tree)
        names |= {
            n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
    return names


FILE_SUFFIXES = frozenset({"py", "po", "mo", "kv", "ini", "json", "geojson", "toml", "md"})
DOTTED = re.compile(r"\b((?:" + "|".join(PACKAGES) + r")(?:\.[A-Za-z_]\w*)+)")
SIBLING = re.compile(r"``([a-z_][a-z0-9_]*)``")


def test_no_docstring_names_a_module_or_function_that_does_not_exist() -> None:
    wrong = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for line, doc in _docstrings(tree):
                for dotted in DOTTED.findall(doc):
                    dotted = dotted.rstrip(".")
                    if dotted.rsplit(".", 1)[1] in FILE_SUFFIXES:
                        continue  # a file name such as kiosk_app.po
                    if not _resolves(dotted):
                        wrong.append(f"{path.relative_to(REPO)}:{line}: {dotted}")
            if path.name == "__init__.py":
                # A package's docstring that names ``x`` means its module x, or a name it binds.
                doc = ast.get_docstring(tree) or ""
                known = _package_names(path.parent) | set(PACKAGES)
                for name in SIBLING.findall(doc):
                    if name not in known:
                        wrong.append(f"{path.relative_to(REPO)}: ``{name}`` is no module here")
    assert not wrong, "docstrings name what does not exist:\n" + "\n".join(wrong)
