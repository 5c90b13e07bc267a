"""Reasons as codes with parameters, and their words in English and Chinese.

Scoring (``backend.cases.scoring``) and alert routing (``backend.alerts.routing``) write
their reasons as English sentences; those sentences are what is stored, sent in alerts and
put in CAP, and the API keeps returning them. This module reads each of those sentences back
into a :class:`Reason` (a code and its parameters: metres, minutes, enum values, case ids),
so that the desk and CAP can say the same thing in another language. The English templates
below are the inverse of the sentences scoring and routing write; ``tests/backend/
test_reasons.py`` drives scoring and routing through every branch and checks that every
sentence they produce is read back, so a reworded sentence fails there rather than showing
up untranslated.

Standard library only; imported by ``cap`` and ``desk``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

LANGUAGES: Final = ("en", "zh")


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


# --------------------------------------------------------------------------- quantities

_DIST = r"(?P<{name}>\d+(?:\.\d)? k?m)"
_ELAPSED = r"(?P<{name}>(?:\d+ days? ?)?(?:\d+ h ?)?(?:\d+ min)?)"
_LIST = r"(?P<{name}>[a-z]+(?:, [a-z]+)*)"
_WORD = r"(?P<{name}>[0-9a-z\-]+)"


def metres(text: str) -> float:
    """``350 m`` -> 350, ``1.2 km`` -> 1200."""
    number, unit = text.split(" ")
    return float(number) * (1000.0 if unit == "km" else 1.0)


def minutes(text: str) -> int:
    """``2 days 4 h`` -> 3120, ``3 h 20 min`` -> 200, ``40 min`` -> 40."""
    total = 0
    for amount, unit in re.findall(r"(\d+) (days?|h|min)", text):
        total += int(amount) * {"day": 1440, "days": 1440, "h": 60, "min": 1}[unit]
    return total


_CONVERT: Final[dict[str, Callable[[str], Any]]] = {
    "m": metres,
    "min": minutes,
    "list": lambda s: s.split(", "),
}


def _compile(template: str, kinds: dict[str, str]) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name, kind in kinds.items():
        shape = {"m": _DIST, "min": _ELAPSED, "list": _LIST, "word": _WORD}[kind]
        pattern = pattern.replace(re.escape("{" + name + "}"), shape.format(name=name))
    return re.compile(f"^{pattern}$")


# code -> (English sentence template, parameter kinds)
MATCH_REASONS: Final[dict[str, tuple[str, dict[str, str]]]] = {
    "distance": ("{distance} from last seen", {"distance": "m"}),
    "before_last_seen": (
        "observed {elapsed} before the child was last seen: cannot be this child",
        {"elapsed": "min"},
    ),
    "since_last_seen": ("{elapsed} since the child was last seen", {"elapsed": "min"}),
    "inside_area": ("inside the case area ({radius} radius)", {"radius": "m"}),
    "outside_area": ("outside the case area ({radius} radius)", {"radius": "m"}),
    "sex_not_reported": ("sex not reported", {}),
    "sex_not_in_case": ("sex not recorded in the case", {}),
    "sex_agrees": ("sex agrees ({sex})", {"sex": "word"}),
    "sex_contradicts": (
        "sex contradicts case (reported {reported}, case {case})",
        {"reported": "word", "case": "word"},
    ),
    "age_not_reported": ("age band not reported", {}),
    "age_not_in_case": ("age band not in the case", {}),
    "age_agrees": ("age band agrees ({band})", {"band": "word"}),
    "age_close": (
        "age band close to case (reported {reported}, case {case})",
        {"reported": "word", "case": "word"},
    ),
    "age_contradicts": (
        "age band contradicts case (reported {reported}, case {case} when last seen)",
        {"reported": "word", "case": "word"},
    ),
    "colours_not_reported": ("clothing colours not reported", {}),
    "colours_not_in_case": ("clothing colours not in the case", {}),
    "colours_agree": ("clothing colours agree ({colours})", {"colours": "list"}),
    "colours_differ": (
        "clothing colours differ (reported {reported}, case {case})",
        {"reported": "list", "case": "list"},
    ),
    "distinguishing_marks": ("case lists distinguishing marks: ask the reporter", {}),
    "named_by_reporter": ("named by the reporter", {}),
}
_MATCH_PATTERNS: Final = [
    (code, _compile(template, kinds), kinds) for code, (template, kinds) in MATCH_REASONS.items()
]


def parse_match_reason(text: str) -> Reason:
    """A scoring reason as a code with parameters; ``unknown`` (with the text) if it is none
    of the known sentences."""
    for code, pattern, kinds in _MATCH_PATTERNS:
        found = pattern.match(text)
        if found:
            params: dict[str, Any] = {}
            for name, kind in kinds.items():
                raw = found.group(name)
                params[name] = _CONVERT[kind](raw) if kind in _CONVERT else raw
            return Reason(code, params)
    return Reason("unknown", {"text": text})


# --------------------------------------------------------------------------- alerts

_CASE = r"case (?P<case_id>[A-Za-z0-9_.\-]+) \(score (?P<score>\d\.\d\d)(?:, (?P<d>\d+(?:\.\d)? k?m) from last seen)?\)"  # noqa: E501
_MATCH = re.compile(_CASE)
_REPORTERS = r"(?P<reporters>1 reporter|\d+ independent reporters)"
_ABOUT = r"(?P<about>matching case .+\)|with no case match)"
_ALERT_PATTERNS: Final = [
    (
        "station_sighting",
        re.compile(
            r"^(?P<update>Update: )?Accepted sighting in your jurisdiction; "
            r"(?:matches (?P<matches>.+)|no open case matched); " + _REPORTERS + r"\.$"
        ),
    ),
    (
        "assigned_case",
        re.compile(
            r"^(?P<update>Update: )?Sighting matches your (?P<match>case .+\)); "
            + _REPORTERS
            + r"\.$"
        ),
    ),
    (
        "proximity",
        re.compile(
            r"^(?P<update>Update: )?You are on duty (?P<distance>\d+(?:\.\d)? k?m) from "
            r"a sighting " + _ABOUT + "; " + _REPORTERS + r"\.$"
        ),
    ),
    (
        "escalation_volunteer",
        re.compile(
            r"^Nobody has acknowledged yet: you are on duty (?P<distance>\d+(?:\.\d)? k?m)"
            r" from a sighting " + _ABOUT + "; " + _REPORTERS + r"\.$"
        ),
    ),
    (
        "escalation_station",
        re.compile(
            r"^Escalated: no volunteer acknowledged a sighting "
            + _ABOUT
            + "; "
            + _REPORTERS
            + r"\.$"
        ),
    ),
]


def _case_match(text: str) -> dict[str, Any] | None:
    found = _MATCH.fullmatch(text.removeprefix("matching "))
    if found is None:
        return None
    d = found.group("d")
    return {
        "case_id": found.group("case_id"),
        "score": float(found.group("score")),
        "distance": metres(d) if d else None,
    }


def parse_alert_reason(text: str) -> Reason:
    """An alert's reason (``backend.alerts.routing``) as a code with parameters."""
    for code, pattern in _ALERT_PATTERNS:
        found = pattern.match(text)
        if found is None:
            continue
        groups = found.groupdict()
        reporters = groups["reporters"]
        params: dict[str, Any] = {
            "update": bool(groups.get("update")),
            "reporters": 1 if reporters == "1 reporter" else int(reporters.split(" ")[0]),
        }
        if code == "station_sighting":
            ms = groups["matches"]
            matches = [_case_match(m) for m in ms.split("; ")] if ms else []
            if any(m is None for m in matches):
                break
            params["matches"] = matches
        if code == "assigned_case":
            params["match"] = _case_match(groups["match"])
        if "about" in groups:
            params["match"] = (
                None if groups["about"] == "with no case match" else _case_match(groups["about"])
            )
        if "distance" in groups:
            params["distance"] = metres(groups["distance"])
        return Reason(code, params)
    return Reason("unknown", {"text": text})


# --------------------------------------------------------------------------- Chinese

SEX_ZH: Final = {"female": "女", "male": "男", "unknown": "不详"}
COLOUR_ZH: Final = {
    "black": "黑",
    "white": "白",
    "grey": "灰",
    "red": "红",
    "orange": "橙",
    "yellow": "黄",
    "green": "绿",
    "blue": "蓝",
    "purple": "紫",
    "pink": "粉",
    "brown": "棕",
}


def _age_zh(band: str) -> str:
    return "不详" if band == "unknown" else f"{band}岁"


def distance_zh(m: float) -> str:
    return f"{m:.0f} 米" if m < 999.5 else f"{m / 1000.0:.1f} 公里"


def elapsed_zh(total_min: int) -> str:
    days, rest = divmod(max(0, total_min), 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    if hours:
        return f"{hours} 小时 {mins} 分钟" if mins else f"{hours} 小时"
    return f"{mins} 分钟"


def _colours_zh(colours: list[str]) -> str:
    return "、".join(COLOUR_ZH.get(c, c) + "色" for c in colours)


_MATCH_ZH: Final[dict[str, Callable[[dict[str, Any]], str]]] = {
    "distance": lambda p: f"距最后出现地点 {distance_zh(p['distance'])}",
    "before_last_seen": lambda p: (
        f"发现时间早于孩子最后出现 {elapsed_zh(p['elapsed'])}：不可能是该儿童"
    ),
    "since_last_seen": lambda p: f"距孩子最后出现已 {elapsed_zh(p['elapsed'])}",
    "inside_area": lambda p: f"在案件区域内（半径 {distance_zh(p['radius'])}）",
    "outside_area": lambda p: f"在案件区域外（半径 {distance_zh(p['radius'])}）",
    "sex_not_reported": lambda p: "报告未说明性别",
    "sex_not_in_case": lambda p: "案件未记录性别",
    "sex_agrees": lambda p: f"性别一致（{SEX_ZH.get(p['sex'], p['sex'])}）",
    "sex_contradicts": lambda p: (
        f"性别不符（报告 {SEX_ZH.get(p['reported'], p['reported'])}，"
        f"案件 {SEX_ZH.get(p['case'], p['case'])}）"
    ),
    "age_not_reported": lambda p: "报告未说明年龄段",
    "age_not_in_case": lambda p: "案件未记录年龄段",
    "age_agrees": lambda p: f"年龄段一致（{_age_zh(p['band'])}）",
    "age_close": lambda p: (
        f"年龄段接近（报告 {_age_zh(p['reported'])}，案件 {_age_zh(p['case'])}）"
    ),
    "age_contradicts": lambda p: (
        f"年龄段不符（报告 {_age_zh(p['reported'])}，走失时 {_age_zh(p['case'])}）"
    ),
    "colours_not_reported": lambda p: "报告未说明衣服颜色",
    "colours_not_in_case": lambda p: "案件未记录衣服颜色",
    "colours_agree": lambda p: f"衣服颜色一致（{_colours_zh(p['colours'])}）",
    "colours_differ": lambda p: (
        f"衣服颜色不同（报告 {_colours_zh(p['reported'])}，案件 {_colours_zh(p['case'])}）"
    ),
    "distinguishing_marks": lambda p: "案件记有明显特征：请询问报告人",
    "named_by_reporter": lambda p: "报告人指明了该案件",
}


def _match_zh(m: dict[str, Any] | None) -> str:
    if m is None:
        return "未匹配任何案件"
    text = f"案件 {m['case_id']}（匹配度 {m['score']:.2f}"
    if m.get("distance") is not None:
        text += f"，距最后出现地点 {distance_zh(m['distance'])}"
    return text + "）"


def _reporters_zh(n: int) -> str:
    return f"{n} 位独立报告人"


def _update_zh(p: dict[str, Any]) -> str:
    return "更新：" if p.get("update") else ""


_ALERT_ZH: Final[dict[str, Callable[[dict[str, Any]], str]]] = {
    "station_sighting": lambda p: (
        f"{_update_zh(p)}辖区内已受理的线索；"
        + (
            "匹配 " + "；".join(_match_zh(m) for m in p["matches"])
            if p["matches"]
            else "未匹配任何进行中的案件"
        )
        + f"；{_reporters_zh(p['reporters'])}。"
    ),
    "assigned_case": lambda p: (
        f"{_update_zh(p)}线索匹配您负责的{_match_zh(p['match'])}；{_reporters_zh(p['reporters'])}。"
    ),
    "proximity": lambda p: (
        f"{_update_zh(p)}您正在值勤，距一条线索 {distance_zh(p['distance'])}（"
        f"{_match_zh(p['match'])}）；{_reporters_zh(p['reporters'])}。"
    ),
    "escalation_volunteer": lambda p: (
        f"尚无人确认：您正在值勤，距一条线索 {distance_zh(p['distance'])}（"
        f"{_match_zh(p['match'])}）；{_reporters_zh(p['reporters'])}。"
    ),
    "escalation_station": lambda p: (
        f"已升级：没有志愿者确认这条线索（{_match_zh(p['match'])}）；"
        f"{_reporters_zh(p['reporters'])}。"
    ),
}


def match_reason_text(text: str, lang: str) -> str:
    """A scoring reason in ``lang`` (``en``: as written)."""
    if lang == "en":
        return text
    reason = parse_match_reason(text)
    render = _MATCH_ZH.get(reason.code)
    return render(reason.params) if render else text


def alert_reason_text(text: str, lang: str) -> str:
    """An alert's reason in ``lang`` (``en``: as written)."""
    if lang == "en":
        return text
    reason = parse_alert_reason(text)
    render = _ALERT_ZH.get(reason.code)
    return render(reason.params) if render else text
