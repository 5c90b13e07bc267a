"""CAP 1.2 rendering, validated against the OASIS schema shipped in backend/cap/schema."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import xmlschema
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backend import cap
from backend.cap.render import CAP_NS
from protocol.messages import Alert, AlertKind, Notice
from protocol.payloads import AgeBand, ChildDescription, Colour, Sex, WhatSeen

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "backend" / "cap" / "schema" / "CAP-v1.2.xsd"
NS = {"cap": CAP_NS}
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
RELAY = "+86 400 800 1234"
SENDER = "sightings.example.org"


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(SCHEMA_PATH))


def header(identifier="a-1", sent=T0):
    return cap.CapHeader(SENDER, identifier, sent)


def station_alert(**changes):
    fields = {
        "alert_id": "6f1c2a40-8a4b-4c1e-9a51-2b8f0f3a9d10",
        "kind": AlertKind.STATION_SIGHTING,
        "recipient_id": "st-xujiahui",
        "incident_id": "inc-42",
        "lat": 31.1953,
        "lon": 121.4365,
        "observed_at": T0 - timedelta(minutes=2),
        "what_seen": WhatSeen.CARRIED_BY_BEGGAR,
        "reporters": 2,
        "sent_at": T0,
        "expires_at": T0 + timedelta(hours=2),
        "reason": "Accepted sighting in your jurisdiction; matches case case-7 (score 0.82).",
        "case_id": "case-7",
        "score": 0.82,
        "station_id": "xujiahui",
        "child": ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
    }
    fields.update(changes)
    return Alert(**fields)


def notice(title="Missing: girl, 4, red coat", description="Last seen on line 1 platform."):
    return Notice(
        case_id="case-7",
        title=title,
        description=description,
        relay_contact=RELAY,
        since=T0 - timedelta(hours=5),
        child=ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
    )


AREA = [cap.CapCircle(31.1953, 121.4365, 100_000.0)]


def text(root, path):
    return root.find(path, NS).text


def test_station_alert_validates_and_says_what_it_should(schema):
    root = cap.station_alert_to_cap(
        station_alert(), header(), relay_contact=RELAY, area_desc="Xujiahui station"
    )
    xml = cap.to_xml(root)
    schema.validate(xml)  # raises if invalid
    parsed = ET.fromstring(xml)
    assert parsed.tag == f"{{{CAP_NS}}}alert"
    assert text(parsed, "cap:identifier") == "a-1"
    assert text(parsed, "cap:sent") == "2026-11-28T10:00:00+00:00"
    assert text(parsed, "cap:status") == "Actual"
    assert text(parsed, "cap:msgType") == "Alert"
    assert text(parsed, "cap:scope") == "Restricted"
    assert "Police" in text(parsed, "cap:restriction")
    assert text(parsed, "cap:info/cap:category") == "Rescue"
    assert text(parsed, "cap:info/cap:certainty") == "Likely"
    assert text(parsed, "cap:info/cap:contact") == RELAY
    assert text(parsed, "cap:info/cap:area/cap:circle") == "31.195300,121.436500 0.500"
    assert parsed.find("cap:references", NS) is None


def test_unmatched_single_report_is_safety_possible(schema):
    root = cap.station_alert_to_cap(
        station_alert(case_id=None, score=None, reporters=1),
        header(),
        relay_contact=RELAY,
        area_desc="Xujiahui station",
    )
    schema.validate(cap.to_xml(root))
    assert text(root, "cap:info/cap:category") == "Safety"
    assert text(root, "cap:info/cap:certainty") == "Possible"
    assert text(root, "cap:info/cap:severity") == "Moderate"


def test_escalation_alert_validates(schema):
    root = cap.station_alert_to_cap(
        station_alert(kind=AlertKind.ESCALATION),
        header(),
        relay_contact=RELAY,
        area_desc="Xujiahui station",
    )
    schema.validate(cap.to_xml(root))
    assert "escalated" in text(root, "cap:info/cap:headline")


def test_volunteer_alerts_are_not_rendered_for_police():
    with pytest.raises(cap.CapError, match="proximity"):
        cap.station_alert_to_cap(
            station_alert(kind=AlertKind.PROXIMITY), header(), relay_contact=RELAY, area_desc="x"
        )


def test_case_notice_is_public_with_relay_contact(schema):
    ring = cap.CapPolygon(((31.20, 121.43), (31.21, 121.44), (31.19, 121.45)))
    root = cap.case_notice_to_cap(
        notice(),
        header(),
        area_desc="Xuhui district and 100 km around the last-seen point",
        areas=[*AREA, ring],
        expires=T0 + timedelta(days=7),
    )
    schema.validate(cap.to_xml(root))
    assert text(root, "cap:scope") == "Public"
    assert root.find("cap:restriction", NS) is None
    assert text(root, "cap:info/cap:contact") == RELAY
    polygon = text(root, "cap:info/cap:area/cap:polygon").split(" ")
    assert len(polygon) == 4 and polygon[0] == polygon[-1]
    assert text(root, "cap:info/cap:area/cap:circle") == "31.195300,121.436500 100.000"


def test_update_references_the_original(schema):
    original = header("notice-1", T0)
    root = cap.case_notice_to_cap(
        notice(),
        header("notice-2", T0 + timedelta(hours=1)),
        area_desc="area",
        areas=AREA,
        msg_type=cap.MsgType.UPDATE,
        references=[original],
    )
    schema.validate(cap.to_xml(root))
    assert text(root, "cap:msgType") == "Update"
    assert text(root, "cap:references") == f"{SENDER},notice-1,2026-11-28T10:00:00+00:00"


def test_cancel_references_every_earlier_message_and_describes_no_child(schema):
    first = header("notice-1", T0)
    second = header("notice-2", T0 + timedelta(hours=1))
    root = cap.case_cancel_to_cap(
        "case-7",
        header("notice-3", T0 + timedelta(hours=3)),
        [first, second],
        relay_contact=RELAY,
        area_desc="area",
        areas=AREA,
    )
    xml = cap.to_xml(root)
    schema.validate(xml)
    assert text(root, "cap:msgType") == "Cancel"
    assert text(root, "cap:references") == (
        f"{SENDER},notice-1,2026-11-28T10:00:00+00:00 {SENDER},notice-2,2026-11-28T11:00:00+00:00"
    )
    assert b"female" not in xml and b"red" not in xml


def test_update_or_cancel_without_references_is_refused():
    with pytest.raises(cap.CapError, match="reference"):
        cap.case_notice_to_cap(
            notice(), header(), area_desc="a", areas=AREA, msg_type=cap.MsgType.UPDATE
        )
    with pytest.raises(cap.CapError, match="reference"):
        cap.case_cancel_to_cap("c", header(), [], relay_contact=RELAY, area_desc="a", areas=AREA)


def test_schema_rejects_an_alert_without_identifier(schema):
    root = cap.station_alert_to_cap(station_alert(), header(), relay_contact=RELAY, area_desc="x")
    root.remove(root.find("cap:identifier", NS))
    assert not schema.is_valid(cap.to_xml(root))


def test_schema_rejects_a_time_without_offset(schema):
    root = cap.station_alert_to_cap(station_alert(), header(), relay_contact=RELAY, area_desc="x")
    root.find("cap:sent", NS).text = "2026-11-28T10:00:00"
    assert not schema.is_valid(cap.to_xml(root))


def test_sent_keeps_its_offset_and_drops_fractions():
    shanghai = timezone(timedelta(hours=8))
    moment = datetime(2026, 11, 28, 18, 0, 5, 123456, tzinfo=shanghai)
    assert cap.format_cap_time(moment) == "2026-11-28T18:00:05+08:00"
    with pytest.raises(cap.CapError, match="timezone-aware"):
        cap.format_cap_time(datetime(2026, 11, 28))


@pytest.mark.parametrize("bad", ["has space", "a,b", "", "x<y", "a&b"])
def test_bad_identifiers_are_refused(bad):
    with pytest.raises(cap.CapError, match="identifier"):
        cap.CapHeader(SENDER, bad, T0)


def test_bad_areas_are_refused():
    with pytest.raises(cap.CapError, match="3"):
        cap.CapPolygon(((1.0, 1.0), (2.0, 2.0), (1.0, 1.0)))
    with pytest.raises(cap.CapError, match="latitude"):
        cap.CapCircle(91.0, 0.0, 10.0)
    with pytest.raises(cap.CapError, match="radius"):
        cap.CapCircle(0.0, 0.0, -1.0)
    with pytest.raises(cap.CapError, match="area"):
        cap.case_notice_to_cap(notice(), header(), area_desc="a", areas=[])


def test_redaction_keeps_the_relay_and_dates():
    text_in = f"Call mum on 138-0013-8000 or the relay {RELAY}. Missing since 2026-11-28."
    out = cap.redact_phone_numbers(text_in, RELAY)
    assert "138-0013-8000" not in out
    assert RELAY in out
    assert "2026-11-28" in out


# --------------------------------------------------------------------------- properties

digits = st.text(alphabet="0123456789", min_size=9, max_size=11)
separators = st.sampled_from(["", " ", "-", ".", "  "])


@st.composite
def phone_numbers(draw):
    body = draw(digits.filter(lambda d: d[0] != "0"))
    sep = draw(separators)
    prefix = draw(st.sampled_from(["", "+", "+86 ", "(0)"]))
    groups = [body[i : i + 3] for i in range(0, len(body), 3)]
    return prefix + sep.join(groups)


filler = st.text(alphabet=st.characters(categories=["L", "Zs"], max_codepoint=0x2FFF), max_size=40)


CLEAN_DIGITS = re.sub(
    r"\D",
    "",
    cap.to_xml(cap.case_notice_to_cap(notice(), header(), area_desc="area", areas=AREA)).decode(),
)


@settings(max_examples=150, deadline=None)
@given(phone_numbers(), filler, filler, st.booleans())
def test_a_family_number_in_case_text_never_reaches_the_notice(
    schema, family, before, after, in_title
):
    family_digits = re.sub(r"\D", "", family)
    relay_digits = re.sub(r"\D", "", RELAY)
    # a number that is (part of) the relay line, or of the notice's own dates, proves nothing
    assume(family_digits not in relay_digits and relay_digits not in family_digits)
    assume(family_digits not in CLEAN_DIGITS)
    leaked = f"{before} family phone {family} {after}"
    n = notice(title=leaked) if in_title else notice(description=leaked)
    root = cap.case_notice_to_cap(n, header(), area_desc="area", areas=AREA)
    xml = cap.to_xml(root)
    schema.validate(xml)
    assert family.encode() not in xml
    for element in root.iter():
        assert family_digits not in re.sub(r"\D", "", element.text or "")
    assert text(root, "cap:info/cap:contact") == RELAY
    assert RELAY in text(root, "cap:info/cap:instruction")


def test_every_document_has_a_chinese_info_beside_the_english_one(schema):
    reason = (
        "Accepted sighting in your jurisdiction; matches case case-7 (score 0.82, 1.2 km from "
        "last seen); 2 independent reporters."
    )
    docs = [
        cap.station_alert_to_cap(
            station_alert(reason=reason), header(), relay_contact=RELAY, area_desc="Xujiahui"
        ),
        cap.case_notice_to_cap(notice(), header("n-1"), area_desc="Shanghai", areas=AREA),
        cap.case_cancel_to_cap(
            "case-7",
            header("c-1"),
            [header("n-1")],
            relay_contact=RELAY,
            area_desc="Shanghai",
            areas=AREA,
        ),
    ]
    for root in docs:
        schema.validate(cap.to_xml(root))
        infos = root.findall("cap:info", NS)
        assert [text(i, "cap:language") for i in infos] == ["en", "zh-CN"]
    zh = docs[0].findall("cap:info", NS)[1]
    description = text(zh, "cap:description")
    assert "案件 case-7（匹配度 0.82，距最后出现地点 1.2 公里）" in description
    assert "2 位独立报告人" in description and "女" in description
    assert not re.search(r"[A-Za-z]{4,}", re.sub(r"case-7|xujiahui", "", description)), description
