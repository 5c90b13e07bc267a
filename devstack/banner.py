"""What `make run` prints once the stack is up: addresses, tokens, accounts, commands to try."""

from __future__ import annotations

from devstack.config import (
    DEMO_KIOSK,
    KIOSK_PASSWORD,
    PHONE_ID,
    PHONE_PASSWORD,
    VOLUNTEER_PASSWORD,
    VOLUNTEERS,
    DevStackConfig,
    role_token,
)


def banner(cfg: DevStackConfig, broker_kind: str = "mosquitto") -> str:
    p = cfg.mqtt_port
    broker_text = (
        "Mosquitto, ACL broker_config/acl"
        if broker_kind == "mosquitto"
        else "embedded rumqttd from the iotcore package: NO authentication, NO ACLs; "
        "local development only. Install mosquitto for the real thing"
    )
    return f"""
Sighting-report stack is up (Ctrl-C stops it).

  MQTT broker   127.0.0.1:{p}   ({broker_text})
  HTTP API      http://127.0.0.1:{cfg.http_port}/docs   (OpenAPI), /health, /api/reports
  database      {cfg.database_url}
  logs          {cfg.var / "logs"}

HTTP tokens (Authorization: Bearer ...), also in {cfg.var}/<role>.token:
  coordinator   {role_token(cfg.var, "coordinator")}
  operator      {role_token(cfg.var, "operator")}
  police        {role_token(cfg.var, "police")}
Demo case demo-1 at 人民广场: kiosks within 2 km show its notice; alerts go to vol-1..3.

Demo credentials (username = device id):
  kiosks        kiosk-SH-001 ... kiosk-SH-302 (one per metro station) / {KIOSK_PASSWORD}
  phone         {PHONE_ID} / {PHONE_PASSWORD}
  volunteers    {", ".join(VOLUNTEERS)} / {VOLUNTEER_PASSWORD}

Try it:
  mosquitto_sub -p {p} -u {DEMO_KIOSK} -P {KIOSK_PASSWORD} -V mqttv5 -t sr/v1/devices/{DEMO_KIOSK}/receipts -v &
  mosquitto_pub -p {p} -u {DEMO_KIOSK} -P {KIOSK_PASSWORD} -V mqttv5 -q 1 -t sr/v1/devices/{DEMO_KIOSK}/reports -m "$(python3 -m protocol.example {DEMO_KIOSK})"
  mosquitto_pub -p {p} -u {DEMO_KIOSK} -P {KIOSK_PASSWORD} -V mqttv5 -q 1 -t sr/v1/devices/{DEMO_KIOSK}/reports -m '{{"report_id": "nope", "location": {{"lat": 123}}}}'
  make kiosk      (the kiosk app, configured by var/kiosk.ini)
"""
