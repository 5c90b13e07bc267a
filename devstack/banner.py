"""What `make run` prints once the stack is up: addresses, accounts, commands to try."""

from __future__ import annotations

import textwrap

from devstack.broker import (
    ADMIN_ACCOUNT,
    DYNSEC_FILE,
    STATION_PASSWORD,
    WORKER_ACCOUNT,
    police_station_ids,
)
from devstack.config import (
    DEMO_KIOSK,
    KIOSK_PASSWORD,
    PHONE_ID,
    PHONE_PASSWORD,
    VOLUNTEER_PASSWORD,
    VOLUNTEERS,
    DevStackConfig,
)

# The police station whose jurisdiction holds the demo kiosk's station (人民广场).
DEMO_STATION = f"PS-{DEMO_KIOSK.removeprefix('kiosk-')}"


def banner(cfg: DevStackConfig, broker_kind: str = "mosquitto") -> str:
    p = cfg.mqtt_port
    broker_text = (
        f"Mosquitto, one account per client in {cfg.var / 'broker' / DYNSEC_FILE}"
        if broker_kind == "mosquitto"
        else "embedded rumqttd from the iotcore package: NO authentication, NO ACLs; "
        "local development only. Install mosquitto for the real thing"
    )
    stations = textwrap.fill(
        ", ".join(police_station_ids(cfg.database_url)),
        width=96,
        initial_indent=" " * 16,
        subsequent_indent=" " * 16,
        break_on_hyphens=False,
    )
    kiosk = f"-p {p} -u {DEMO_KIOSK} -P {KIOSK_PASSWORD}"
    rr = (
        f"mosquitto_rr {kiosk} -q 1 -W 10 -t sr/v1/devices/{DEMO_KIOSK}/reports "
        f"-e sr/v1/devices/{DEMO_KIOSK}/receipts"
    )
    return f"""
Sighting-report stack is up (Ctrl-C stops it).

  MQTT broker   127.0.0.1:{p}   ({broker_text})
  HTTP API      http://127.0.0.1:{cfg.http_port}/docs   (OpenAPI), /health, /api/reports
  database      {cfg.database_url}
  logs          {cfg.var / "logs"}

HTTP: every /api call is a person's: Authorization: Bearer <API token> (below, per desk
account), scoped like the person (police: their stations only), e.g.
  curl -H "Authorization: Bearer $(cat {cfg.var}/police.api-token)" http://127.0.0.1:{cfg.http_port}/api/reports
Demo case demo-1 at 人民广场: kiosks within 2 km show its notice; alerts go to vol-1..3.

Demo broker accounts (username = client id = the id in its topics; one connection each):
  kiosks        kiosk-SH-001 ... kiosk-SH-302 (one per metro station) / {KIOSK_PASSWORD}
  phone         {PHONE_ID} / {PHONE_PASSWORD}
  volunteers    {", ".join(VOLUNTEERS)} / {VOLUNTEER_PASSWORD}
  police        one console per demo police station, reading only its own
                sr/v1/stations/<id>/alerts / {STATION_PASSWORD}:
{stations}
  worker        {WORKER_ACCOUNT} / in {cfg.var}/{WORKER_ACCOUNT}.secret
  admin         {ADMIN_ACCOUNT} / in {cfg.var}/broker-admin.secret; provision a device on the
                running broker (password printed once; list, revoke, passwd likewise):
                SR_MQTT_ADMIN_PASSWORD=$(cat {cfg.var}/broker-admin.secret) \\
                  .venv/bin/python -m backend.accounts create kiosk kiosk-NEW-1 --port {p}

Try it (a police console in the background, then a report and a bad one, each printing its receipt):
  mosquitto_sub -p {p} -u {DEMO_STATION} -P {STATION_PASSWORD} -V mqttv5 -t sr/v1/stations/{DEMO_STATION}/alerts &
  {rr} -m "$(python3 -m protocol.example {DEMO_KIOSK})"
  {rr} -m '{{"report_id": "nope", "location": {{"lat": 123}}}}'
  make kiosk      (the kiosk app, configured by var/kiosk.ini)
"""
