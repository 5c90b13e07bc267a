"""Render station alerts and case notices as OASIS CAP 1.2 ``<alert>`` documents.

Pure: builds XML with ``xml.etree.ElementTree``; the caller stores the returned
:class:`CapHeader` so a later Update or Cancel can reference it. The schema
``backend/cap/schema/CAP-v1.2.xsd`` (the OASIS standard's) is what tests validate against.

Safety rules built in:
- a station alert is ``scope=Restricted`` (police duty desk only); a case notice is
  ``Public`` and its ``<contact>`` is the volunteer relay contact, never a family's;
- free text of a case (title, description) is scrubbed of phone numbers other than the relay
  contact before it is published: coordinators sometimes paste a family's number, and
  scammers harvest published numbers;
- a Cancel (the case ended) repeats no description of the child.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from backend.reasons import COLOUR_ZH, SEX_ZH, alert_reason_text
from protocol.messages import Alert, AlertKind, Notice
from protocol.payloads import AgeBand, ChildDescription, Sex, WhatSeen

CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
REDACTED: Final = "[number removed: use the relay contact]"
# CAP 1.2 forbids spaces, commas and the XML-reserved < and & in identifier and sender.
_CAP_ID: Final = re.compile(r"^[^\s,<&]+$")
# A phone number: optional +, then digits with single separators; 7+ digits in all.
_PHONE: Final = re.compile(r"\+?\(?\d(?:[\s().\-]{0,2}\d){6,}")
_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: The second <info> block of every document: the same message in Chinese (CAP 1.2 allows
#: one <info> per language; the English one comes first).
ZH: Final = "zh-CN"
_WHAT_SEEN_ZH: Final = {
    WhatSeen.CARRIED_BY_BEGGAR: "被乞讨者抱着",
    WhatSeen.CHILD_ALONE: "儿童独自一人",
    WhatSeen.WITH_ADULT_DISTRESSED: "与成人在一起，神情不安",
    WhatSeen.OTHER: "其他情况",
}


class CapError(ValueError):
    """A CAP document cannot be built from these inputs (the message says what to fix)."""


class MsgType(StrEnum):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"


@dataclass(frozen=True, slots=True)
class CapHeader:
    """Who sent which message when: what a later Update/Cancel references."""

    sender: str
    identifier: str
    sent: datetime

    def __post_init__(self) -> None:
        for name in ("sender", "identifier"):
            value = getattr(self, name)
            if not _CAP_ID.match(value):
                raise CapError(
                    f"CAP {name} {value!r} must be non-empty without spaces, commas, < or &"
                )
        format_cap_time(self.sent)

    @property
    def reference(self) -> str:
        """``sender,identifier,sent`` as CAP's ``<references>`` lists it."""
        return f"{self.sender},{self.identifier},{format_cap_time(self.sent)}"


@dataclass(frozen=True, slots=True)
class CapCircle:
    lat: float
    lon: float
    radius_m: float

    def __post_init__(self) -> None:
        _check_point(self.lat, self.lon)
        if not (math.isfinite(self.radius_m) and self.radius_m >= 0.0):
            raise CapError(f"circle radius_m={self.radius_m} must be finite and >= 0")

    def text(self) -> str:
        return f"{_coord(self.lat)},{_coord(self.lon)} {self.radius_m / 1000.0:.3f}"


@dataclass(frozen=True, slots=True)
class CapPolygon:
    """A ring of (lat, lon) points; closed automatically if the last differs from the first."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        for lat, lon in self.points:
            _check_point(lat, lon)
        if len(set(self.points)) < 3:
            raise CapError(
                f"polygon has {len(set(self.points))} distinct points; a CAP polygon needs "
                "at least 3 (4 with the closing point)"
            )

    def ring(self) -> tuple[tuple[float, float], ...]:
        if self.points[0] == self.points[-1]:
            return self.points
        return (*self.points, self.points[0])

    def text(self) -> str:
        return " ".join(f"{_coord(lat)},{_coord(lon)}" for lat, lon in self.ring())


CapArea = CapCircle | CapPolygon


def _check_point(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise CapError(f"latitude {lat} must be in [-90, 90] (WGS 84 degrees)")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise CapError(f"longitude {lon} must be in [-180, 180] (WGS 84 degrees)")


def _coord(value: float) -> str:
    return f"{value:.6f}"


def format_cap_time(value: datetime) -> str:
    """CAP's dateTime: seconds precision, explicit offset (``2026-11-28T10:00:00+00:00``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise CapError(f"{value!r} must be timezone-aware; CAP times carry an offset")
    return value.replace(microsecond=0).isoformat(timespec="seconds")


def redact_phone_numbers(text: str, allowed: str = "") -> str:
    """Replace every phone-number-like run in ``text`` except ``allowed`` (the relay contact).

    Numbers are compared by their digits, so ``+86 138-0013-8000`` and ``8613800138000`` are
    the same number. ISO dates (``2026-11-28``) are left alone.
    """
    allowed_digits = re.sub(r"\D", "", allowed)

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        if _ISO_DATE.match(found.strip()):
            return found
        if allowed_digits and re.sub(r"\D", "", found) == allowed_digits:
            return found
        return REDACTED

    return _PHONE.sub(replace, text)


def _q(tag: str) -> str:
    return f"{{{CAP_NS}}}{tag}"


def _add(parent: ET.Element, tag: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, _q(tag))
    child.text = text
    return child


def _header(
    header: CapHeader,
    msg_type: MsgType,
    scope: str,
    references: Sequence[CapHeader],
    *,
    restriction: str | None = None,
    incidents: str | None = None,
) -> ET.Element:
    if msg_type is not MsgType.ALERT and not references:
        raise CapError(
            f"a CAP {msg_type.value} must reference the message(s) it updates or cancels; "
            "pass references=[CapHeader of the earlier message]"
        )
    root = ET.Element(_q("alert"))
    _add(root, "identifier", header.identifier)
    _add(root, "sender", header.sender)
    _add(root, "sent", format_cap_time(header.sent))
    _add(root, "status", "Actual")
    _add(root, "msgType", msg_type.value)
    _add(root, "scope", scope)
    if restriction is not None:
        _add(root, "restriction", restriction)
    if references:
        _add(root, "references", " ".join(r.reference for r in references))
    if incidents is not None:
        _add(root, "incidents", incidents)
    return root


def _describe_child_zh(child: ChildDescription) -> str:
    parts = []
    if child.age_band is not AgeBand.UNKNOWN:
        parts.append(f"{child.age_band.value}岁")
    if child.sex is not Sex.UNKNOWN:
        parts.append(SEX_ZH[child.sex.value])
    if child.clothing_colours:
        parts.append("穿" + "、".join(COLOUR_ZH[c.value] + "色" for c in child.clothing_colours))
    return "；".join(parts) if parts else "无描述"


def _describe_child(child: ChildDescription) -> str:
    parts = []
    if child.age_band is not AgeBand.UNKNOWN:
        parts.append(f"age {child.age_band.value}")
    if child.sex is not Sex.UNKNOWN:
        parts.append(child.sex.value)
    if child.clothing_colours:
        parts.append("wearing " + ", ".join(c.value for c in child.clothing_colours))
    return "; ".join(parts) if parts else "no description given"


def _parameter(info: ET.Element, name: str, value: str) -> None:
    param = ET.SubElement(info, _q("parameter"))
    _add(param, "valueName", name)
    _add(param, "value", value)


def _area(info: ET.Element, description: str, areas: Sequence[CapArea]) -> None:
    if not areas:
        raise CapError("a CAP <area> needs at least one circle or polygon")
    area = ET.SubElement(info, _q("area"))
    _add(area, "areaDesc", description)
    for shape in areas:  # the schema wants every polygon before any circle
        if isinstance(shape, CapPolygon):
            _add(area, "polygon", shape.text())
    for shape in areas:
        if isinstance(shape, CapCircle):
            _add(area, "circle", shape.text())


def _station_info(
    root: ET.Element, alert: Alert, lang: str, relay_contact: str, area_desc: str, radius_m: float
) -> None:
    zh = lang == ZH
    info = ET.SubElement(root, _q("info"))
    _add(info, "language", lang)
    matched = alert.case_id is not None
    _add(info, "category", "Rescue" if matched else "Safety")
    _add(info, "event", "儿童危险线索" if zh else "Child at risk sighting")
    _add(info, "urgency", "Immediate")
    _add(info, "severity", "Severe" if matched else "Moderate")
    _add(info, "certainty", "Likely" if alert.reporters >= 2 else "Possible")
    _add(info, "effective", format_cap_time(alert.observed_at))
    _add(info, "expires", format_cap_time(alert.expires_at))
    _add(info, "senderName", "线索报告服务" if zh else "Sighting report service")
    if zh:
        headline = "发现疑似处于危险中的儿童"
        if alert.case_id is not None:
            headline += f"，匹配案件 {alert.case_id}"
        if alert.kind is AlertKind.ESCALATION:
            headline += "（已升级：无志愿者确认）"
        where = f"，地铁站 {alert.station_id} 附近" if alert.station_id else ""
        description = (
            f"发现时间 {format_cap_time(alert.observed_at)}{where}："
            f"{_WHAT_SEEN_ZH[alert.what_seen]}。儿童：{_describe_child_zh(alert.child)}。"
            f"独立报告人：{alert.reporters}。{alert_reason_text(alert.reason, 'zh')}"
        )
        instruction = "请派民警核实儿童安全；如需联系案件协调员，请拨打志愿者转接电话。"
    else:
        headline = "Sighting of a child at risk"
        if alert.case_id is not None:
            headline += f" matching case {alert.case_id}"
        if alert.kind is AlertKind.ESCALATION:
            headline += " (escalated: no volunteer acknowledged)"
        where = f" near metro station {alert.station_id}" if alert.station_id else ""
        description = (
            f"Observed {format_cap_time(alert.observed_at)}{where}: "
            f"{alert.what_seen.value.replace('_', ' ')}. Child: {_describe_child(alert.child)}. "
            f"Independent reporters: {alert.reporters}. {alert.reason}"
        )
        instruction = (
            "Send an officer to check the child's welfare; contact the volunteer relay for "
            "the case coordinator."
        )
    _add(info, "headline", headline)
    _add(info, "description", description)
    _add(info, "instruction", instruction)
    _add(info, "contact", relay_contact)
    _parameter(info, "incident_id", alert.incident_id)
    _parameter(info, "reporters", str(alert.reporters))
    if alert.case_id is not None:
        _parameter(info, "case_id", alert.case_id)
    if alert.score is not None:
        _parameter(info, "match_score", f"{alert.score:.2f}")
    _area(info, area_desc, [CapCircle(alert.lat, alert.lon, radius_m)])


def station_alert_to_cap(
    alert: Alert,
    header: CapHeader,
    *,
    relay_contact: str,
    area_desc: str,
    radius_m: float = 500.0,
    msg_type: MsgType = MsgType.ALERT,
    references: Sequence[CapHeader] = (),
    language: str = "en",
    chinese: bool = True,
) -> ET.Element:
    """A police duty desk's alert (``STATION_SIGHTING`` or ``ESCALATION``) as CAP: an
    <info> in ``language`` and (``chinese``) a second one in zh-CN.

    Restricted scope; the area is a circle of ``radius_m`` around the sighting. A matched
    case makes it Rescue/Severe, an unmatched sighting Safety/Moderate; two or more
    independent reporters make it Likely, one Possible.
    """
    if alert.kind not in (AlertKind.STATION_SIGHTING, AlertKind.ESCALATION):
        raise CapError(
            f"alert {alert.alert_id} is {alert.kind.value}; only station_sighting and "
            "escalation alerts go to a police duty desk as CAP"
        )
    root = _header(
        header,
        msg_type,
        "Restricted",
        references,
        restriction="Police duty desk only: unverified sighting report, not for public release",
        incidents=alert.incident_id,
    )
    for lang in (language, ZH) if chinese and language != ZH else (language,):
        _station_info(root, alert, lang, relay_contact, area_desc, radius_m)
    return root


def case_notice_to_cap(
    notice: Notice,
    header: CapHeader,
    *,
    area_desc: str,
    areas: Sequence[CapArea],
    expires: datetime | None = None,
    msg_type: MsgType = MsgType.ALERT,
    references: Sequence[CapHeader] = (),
    language: str = "en",
    chinese: bool = True,
) -> ET.Element:
    """A case's public notice as CAP (Public scope, Rescue), in ``language`` and (``chinese``)
    zh-CN. The only contact is the notice's volunteer relay contact; phone numbers in the
    case's text are removed."""
    relay = notice.relay_contact
    if not relay.strip():
        raise CapError(f"case {notice.case_id}: a public notice needs a volunteer relay contact")
    root = _header(header, msg_type, "Public", references)
    for lang in (language, ZH) if chinese and language != ZH else (language,):
        zh = lang == ZH
        info = ET.SubElement(root, _q("info"))
        _add(info, "language", lang)
        _add(info, "category", "Rescue")
        _add(info, "event", "儿童走失" if zh else "Missing child")
        _add(info, "urgency", "Immediate")
        _add(info, "severity", "Severe")
        _add(info, "certainty", "Observed")
        _add(info, "effective", format_cap_time(notice.since))
        if expires is not None:
            _add(info, "expires", format_cap_time(expires))
        _add(info, "senderName", "志愿者转接" if zh else "Volunteer relay")
        # the coordinator's own words (title, description) stay as written in both
        _add(info, "headline", redact_phone_numbers(notice.title, relay))
        since = format_cap_time(notice.since)
        text = redact_phone_numbers(notice.description, relay)
        if zh:
            description = f"{text}\n走失时间 {since}。儿童：{_describe_child_zh(notice.child)}。"
            instruction = (
                f"如看到该儿童，请勿靠近；请在地铁站的线索报告终端报告，或拨打志愿者转接电话 "
                f"{relay}。"
            )
        else:
            description = f"{text}\nMissing since {since}. Child: {_describe_child(notice.child)}."
            instruction = (
                f"If you see this child, do not approach; report it at a metro kiosk or call "
                f"the volunteer relay {relay}."
            )
        _add(info, "description", description)
        _add(info, "instruction", instruction)
        _add(info, "contact", relay)
        _parameter(info, "case_id", notice.case_id)
        _area(info, area_desc, areas)
    return root


def case_cancel_to_cap(
    case_id: str,
    header: CapHeader,
    original: Sequence[CapHeader],
    *,
    relay_contact: str,
    area_desc: str,
    areas: Sequence[CapArea],
    language: str = "en",
    chinese: bool = True,
) -> ET.Element:
    """Withdraw a case's notice (child found, case closed or false): ``msgType=Cancel``
    referencing every earlier message of the notice, with no description of the child."""
    root = _header(header, MsgType.CANCEL, "Public", original)
    for lang in (language, ZH) if chinese and language != ZH else (language,):
        zh = lang == ZH
        info = ET.SubElement(root, _q("info"))
        _add(info, "language", lang)
        _add(info, "category", "Rescue")
        _add(info, "event", "儿童走失" if zh else "Missing child")
        _add(info, "responseType", "AllClear")
        _add(info, "urgency", "Past")
        _add(info, "severity", "Minor")
        _add(info, "certainty", "Observed")
        _add(info, "headline", "通知已撤回" if zh else "Notice withdrawn")
        _add(
            info,
            "description",
            "此案件已结束，通知已撤回。谢谢。"
            if zh
            else "This case has ended. The notice is withdrawn; thank you.",
        )
        _add(info, "contact", relay_contact)
        _parameter(info, "case_id", case_id)
        _area(info, area_desc, areas)
    return root


def to_xml(root: ET.Element) -> bytes:
    """UTF-8 bytes with an XML declaration, CAP as the default namespace."""
    data: bytes = ET.tostring(
        root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS
    )
    return data
