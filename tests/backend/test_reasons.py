"""Every reason scoring and routing write is read back as a code (never ``unknown``), and its
Chinese words carry no English."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

from backend.alerts.routing import (
    CaseMatch,
    IncidentView,
    RecipientKind,
    VolunteerCandidate,
    escalation_recipients,
    escalation_station_recipient,
    route,
)
from backend.cases.scoring import CaseDescription, score_sighting
from backend.reasons import (
    alert_reason_text,
    match_reason_text,
    parse_alert_reason,
    parse_match_reason,
)
from protocol import AgeBand, ChildDescription, Colour, Sex

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
# English words that must not survive translation (case ids and numbers may).
ENGLISH = re.compile(
    r"\b(?:from|since|case area|sex|age|colours?|reported|match\w*|score|"
    r"female|male|red|blue|reporters?|duty|sighting|Update)\b"
)


def _scoring_reasons() -> set[str]:
    out: set[str] = set()
    sexes, bands = list(Sex), [AgeBand.UNKNOWN, AgeBand.PRESCHOOL, AgeBand.CHILD, AgeBand.TEEN]
    colours = [(), (Colour.RED,), (Colour.BLUE, Colour.WHITE)]
    for rs, cs, rb, cb, rc, cc in itertools.product(sexes, sexes, bands, bands, colours, colours):
        for distance, elapsed, radius, marks in (
            (350.0, timedelta(minutes=40), None, None),
            (12_345.0, timedelta(days=2, hours=4), 3_000.0, "scar"),
            (10.0, timedelta(hours=3), 20_000.0, None),
            (10.0, timedelta(minutes=-30), None, None),
        ):
            score = score_sighting(
                distance_m=distance,
                elapsed=elapsed,
                reported=ChildDescription(age_band=rb, sex=rs, clothing_colours=rc),
                case=CaseDescription(cb, cs, cc, distinguishing_marks=marks),
                area_radius_m=radius,
            )
            out.update(score.reasons)
    return out | {"named by the reporter"}


def _alert_reasons() -> set[str]:
    out: set[str] = set()
    matches = (
        (),
        (CaseMatch("case-1", 0.87, "vol-a", 1_234.0),),
        (CaseMatch("demo-1", 0.5, None, None), CaseMatch("c.2", 0.25, "vol-b", 80.0)),
    )
    candidates = [
        VolunteerCandidate("vol-near", 420.0, True, 10.0, 5_000.0),
        VolunteerCandidate("vol-far", 2_500.0, True, 10.0, 5_000.0, already_alerted=True),
    ]
    for m, reporters, alerted in itertools.product(matches, (1, 3), (False, True)):
        already = frozenset({(RecipientKind.STATION, "PS-1")}) if alerted else frozenset()
        incident = IncidentView("inc", 31.2, 121.4, reporters, m, already)
        out.update(r.reason for r in route(incident, candidates, "PS-1", NOW))
        out.update(r.reason for r in escalation_recipients(incident, candidates, (), 2, NOW))
        out.add(escalation_station_recipient(incident, "PS-1").reason)
    return out


def test_every_scoring_reason_has_a_code_and_chinese_words():
    reasons = _scoring_reasons()
    assert len(reasons) > 30
    for text in reasons:
        reason = parse_match_reason(text)
        assert reason.code != "unknown", text
        zh = match_reason_text(text, "zh")
        assert not ENGLISH.search(zh), (text, zh)
    assert parse_match_reason("1.2 km from last seen").params == {"distance": 1200.0}
    assert parse_match_reason("2 days 4 h since the child was last seen").params == {
        "elapsed": 3120
    }


def test_every_alert_reason_has_a_code_and_chinese_words():
    reasons = _alert_reasons()
    codes = {parse_alert_reason(text).code for text in reasons}
    assert codes == {
        "station_sighting",
        "assigned_case",
        "proximity",
        "escalation_volunteer",
        "escalation_station",
    }
    for text in reasons:
        zh = alert_reason_text(text, "zh")
        assert not ENGLISH.search(zh), (text, zh)
    assert alert_reason_text("anything else", "en") == "anything else"
