"""py-spy on a worker: where to find py-spy, and a summary of its speedscope file."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def summarize_speedscope(path: Path, top: int = 25) -> dict[str, Any]:
    """Where the samples are: frames by inclusive and by self share of all samples."""
    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    project: Counter[str] = Counter()  # functions of this project, whatever the line
    total = 0
    for profile in doc["profiles"]:
        weights = profile.get("weights") or [1] * len(profile["samples"])
        for stack, weight in zip(profile["samples"], weights, strict=False):
            total += weight
            names = [
                f"{frames[i]['name']} ({Path(frames[i].get('file', '?')).name}:"
                f"{frames[i].get('line', '?')})"
                for i in stack
            ]
            for name in set(names):
                inclusive[name] += weight
            for name in {
                f"{frames[i]['name']} ({_project_file(frames[i].get('file', ''))})"
                for i in stack
                if _project_file(frames[i].get("file", ""))
            }:
                project[name] += weight
            if names:
                own[names[-1]] += weight

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": name, "percent": round(100.0 * n / max(total, 1), 1)}
            for name, n in counter.most_common(top)
        ]

    threads = {
        profile.get("name", "?"): sum(profile.get("weights") or [1] * len(profile["samples"]))
        for profile in doc["profiles"]
    }
    return {
        "samples": total,
        "threads": {name: round(100.0 * n / max(total, 1), 1) for name, n in threads.items()},
        "top_inclusive": share(inclusive),
        "top_self": share(own),
        "top_project": share(project),
    }


def _project_file(path: str) -> str | None:
    """``backend/alerts/service.py`` for a file of this project's packages, else None."""
    parts = Path(path).parts
    for i, part in enumerate(parts):
        if part in ("backend", "geo", "protocol") and i + 1 < len(parts):
            return "/".join(parts[i:])
    return None



def py_spy() -> str | None:
    """py-spy of this virtual environment (its bin folder need not be on PATH), or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")
