"""Print a valid, fresh SightingReport as JSON: ``python3 -m protocol.example [DEVICE_ID]``.

Used by the README's mosquitto_pub commands; standard library only.
"""

from __future__ import annotations

import sys

from protocol.payloads import (
    AgeBand,
    ChildDescription,
    Colour,
    Location,
    LocationSource,
    Sex,
    SightingReport,
    WhatSeen,
    new_report_id,
    utc_now,
)

# 人民广场 (SH-013), WGS-84
PEOPLES_SQUARE_LON, PEOPLES_SQUARE_LAT = 121.469971, 31.234826


def example_report(device_id: str = "kiosk-SH-013") -> SightingReport:
    return SightingReport(
        report_id=new_report_id(),
        device_id=device_id,
        observed_at=utc_now(),
        location=Location(PEOPLES_SQUARE_LAT, PEOPLES_SQUARE_LON, 50.0, LocationSource.FIXED),
        what_seen=WhatSeen.CARRIED_BY_BEGGAR,
        child=ChildDescription(AgeBand.INFANT, Sex.FEMALE, (Colour.RED, Colour.WHITE)),
        station_id="SH-013",
        direction="exit 2",
    )


def main(argv: list[str]) -> None:
    device = argv[1] if len(argv) > 1 else "kiosk-SH-013"
    sys.stdout.write(example_report(device).to_json().decode("utf-8") + "\n")


if __name__ == "__main__":
    main(sys.argv)
