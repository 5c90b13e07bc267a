"""The results of one bench run: the step table, the JSON file and JSON lines, and the
invariants (loss, duplicates, dead letters) a run must keep."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BenchResult:
    meta: dict[str, Any]
    ceiling: list[dict[str, Any]]
    end_to_end: list[dict[str, Any]]
    totals: dict[str, Any]
    profile: dict[str, Any] | None = None
    violations: list[str] = field(default_factory=list)
    baseline: dict[str, Any] | None = None  # the results of ``--baseline REF``'s run
    comparison: list[dict[str, Any]] = field(default_factory=list)  # per step, with ratios

    @property
    def ratio(self) -> float | None:
        ceiling = max((s.get("receipts_per_s") or 0 for s in self.ceiling), default=0)
        system = max((s.get("stored_per_s") or 0 for s in self.end_to_end), default=0)
        return round(system / ceiling, 4) if ceiling else None

    def to_json(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "ceiling": self.ceiling,
            "end_to_end": self.end_to_end,
            "totals": self.totals,
            "ratio_end_to_end_over_ceiling": self.ratio,
            "profile": self.profile,
            "violations": self.violations,
            "baseline": self.baseline,
            "comparison": self.comparison,
        }

    def json_lines(self) -> list[str]:
        out = [json.dumps({"meta": self.meta})]
        out += [json.dumps({"phase": "ceiling", **s}) for s in self.ceiling]
        out += [json.dumps({"phase": "end_to_end", **s}) for s in self.end_to_end]
        out += [json.dumps({"comparison": row}) for row in self.comparison]
        out.append(
            json.dumps(
                {"totals": self.totals, "ratio": self.ratio, "violations": self.violations}
            )
        )
        return out

    def table(self) -> str:
        head = (
            f"{'step':<20}{'offered/s':>10}{'stored/s':>10}{'rcpt/s':>9}{'p50 ms':>9}"
            f"{'p90 ms':>9}{'p99 ms':>10}{'max ms':>10}{'alert p50':>10}{'alert p99':>10}"
            f"{'lost':>7}{'dup':>5}  cpu % of a core: broker/workers (echo)/db/loader"
        )
        lines = [head]
        for phase, steps in (("ceiling", self.ceiling), ("end to end", self.end_to_end)):
            lines.append(f"-- {phase}")
            for s in steps:
                lines.append(row(s))
        t = self.totals
        lines += [
            "",
            f"ratio end-to-end / ceiling (best stored/s over best ceiling receipts/s): "
            f"{self.ratio if self.ratio is not None else '?'}",
            f"published {t['published']}, stored {t['stored']}, lost {t['lost']}, "
            f"duplicates (accepted twice) {t['duplicates']}, dead letters {t['dead_letters']}, "
            f"refused by the broker {t['puback_refused']}",
            f"invariants: {'hold' if not self.violations else 'BROKEN'}",
            *(f"  - {v}" for v in self.violations),
        ]
        if self.profile:
            lines.append(f"profile: {self.profile['file']}")
            lines.append("  project functions (share of all samples, callees included):")
            lines += [
                f"  {f['percent']:5.1f} %  {f['frame']}" for f in self.profile["top_project"][:15]
            ]
            lines.append("  frames on top of the stack (self time):")
            lines += [
                f"  {f['percent']:5.1f} %  {f['frame']}" for f in self.profile["top_self"][:8]
            ]
        return "\n".join(lines)


def _ms(latency: dict[str, Any] | None, key: str) -> str:
    if not latency:
        return "-"
    value = float(latency[key])
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def row(s: dict[str, Any]) -> str:
    name = s["name"]
    if s.get("skipped"):
        return f"{name:<20}  skipped: the {s['saturated_at']:g}/s step already saturated"
    cpu = s.get("cpu", {})
    cpu_text = "/".join(
        f"{cpu[k]:.0f}" if k in cpu else "-"
        for k in ("broker", "workers" if "workers" in cpu else "echo", "database", "loader")
    )
    flag = "" if s.get("drained", True) else " (not drained)"
    if s.get("locations_published"):
        absorbed = s.get("locations_absorbed")
        flag += (
            f" positions {s['locations_offered_per_s']:.0f}/s offered, every worker took "
            f"{s['locations_taken_per_s']:.0f}/s"
            + (f", all after {s['locations_absorbed_after_s']} s" if absorbed else ", NOT all")
            + (
                f", {100 * s['locations_superseded_share']:.0f} % superseded by a newer fix"
                if "locations_superseded_share" in s
                else ""
            )
        )
    flag += " (held back)" if s.get("held") else ""
    if s.get("lock_wait_share"):
        flag += f" lock wait {100 * s['lock_wait_share']:.1f} % of batch time"
    stored = s.get("stored_per_s")
    lost = s.get("lost")
    return (
        f"{name:<20}{s['offered_per_s']:>10.0f}"
        f"{(f'{stored:.0f}' if stored is not None else '-'):>10}"
        f"{s['receipts_per_s']:>9.0f}{_ms(s.get('receipt_ms'), 'p50'):>9}"
        f"{_ms(s.get('receipt_ms'), 'p90'):>9}{_ms(s.get('receipt_ms'), 'p99'):>10}"
        f"{_ms(s.get('receipt_ms'), 'max'):>10}{_ms(s.get('alert_ms'), 'p50'):>10}"
        f"{_ms(s.get('alert_ms'), 'p99'):>10}"
        f"{(str(lost) if lost is not None else '-'):>7}{s.get('multi_accepted', 0):>5}  "
        f"{cpu_text}{flag}"
    )


def violations(totals: dict[str, Any]) -> list[str]:
    out = []
    if totals["lost"]:
        out.append(
            f"{totals['lost']} of {totals['published']} published reports were never stored"
        )
    if totals["duplicates"]:
        out.append(f"{totals['duplicates']} reports were receipted `accepted` more than once")
    if totals["dead_letters"]:
        out.append(
            f"{totals['dead_letters']} dead letters for valid reports: "
            f"{totals['dead_letter_reasons']}"
        )
    if totals["connection_losses"]:
        out.append(f"the load generator lost {totals['connection_losses']} connections")
    return out
