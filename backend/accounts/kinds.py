"""Broker account kinds and the topics each kind may use, derived from ``protocol.topics``.

One account per client: a kiosk, a phone, a volunteer, a police station console, a backend
worker or an administrator. The account's username is the id it uses in its topics (a
kiosk ``kiosk-SH-013`` publishes to ``sr/v1/devices/kiosk-SH-013/reports``), and the broker
uses the username as the client id, so nobody can take another account's client id.

What a kind may do is a list of :class:`Grant` (an ACL entry of Mosquitto's dynamic security
plugin). Everything not granted is refused: the broker's default is deny for publishing,
receiving and subscribing. Only workers may join the ``$share`` group, so no device can make
the broker route a report to it (and then drop it on the read check).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from protocol import topics

#: The share group of the backend workers (``backend.settings.Settings.share_group``).
DEFAULT_SHARE_GROUP: Final = "backend"

#: Topics of the dynamic security plugin's control API (``mosquitto_ctrl dynsec ...``).
DYNSEC_CONTROL_TOPICS: Final = "$CONTROL/dynamic-security/#"

# A placeholder report id, replaced by ``+`` to make the photos filter of a device.
_ANY_UUID: Final = "00000000-0000-0000-0000-000000000000"
# A placeholder id, replaced by ``+`` to make the "every device / volunteer / station" filters.
_ANY_ID: Final = "any"


class AccountKind(StrEnum):
    KIOSK = "kiosk"
    PHONE = "phone"
    VOLUNTEER = "volunteer"
    STATION = "station"  # a police station's duty-desk console
    WORKER = "worker"  # a backend ingest worker
    ADMIN = "admin"  # provisioning through $CONTROL/dynamic-security/#


class AclType(StrEnum):
    """The ACL types of Mosquitto's dynamic security plugin."""

    PUBLISH_SEND = "publishClientSend"  # the client may publish to the topic
    PUBLISH_RECEIVE = "publishClientReceive"  # the broker may deliver the topic to the client
    SUBSCRIBE_LITERAL = "subscribeLiteral"  # the client may subscribe to exactly this filter
    SUBSCRIBE_PATTERN = "subscribePattern"  # ... to a filter this pattern matches
    UNSUBSCRIBE_PATTERN = "unsubscribePattern"


@dataclass(frozen=True, slots=True)
class Grant:
    """One allowed action: an ACL entry of the dynamic security plugin."""

    acltype: AclType
    topic: str

    def to_json(self) -> dict[str, object]:
        return {"acltype": str(self.acltype), "topic": self.topic, "priority": 0, "allow": True}


@dataclass(frozen=True, slots=True)
class Account:
    """A broker account. ``username`` is also the client id and the id in its topics
    (device id, volunteer id or station id); workers and admins have free names."""

    username: str
    password: str
    kind: AccountKind

    def __post_init__(self) -> None:
        topics.check_id(self.username, f"{self.kind} account username")
        if not self.password:
            raise ValueError(
                f"account {self.username!r} has an empty password: give every account one"
            )


def _any(topic: str, position: int) -> str:
    """``topic`` with the segment at ``position`` replaced by the ``+`` wildcard."""
    parts = topic.split("/")
    parts[position] = "+"
    return "/".join(parts)


def _send(*names: str) -> list[Grant]:
    return [Grant(AclType.PUBLISH_SEND, n) for n in names]


def _read_literal(*names: str) -> list[Grant]:
    """Subscribe to exactly these topics and receive what is published on them."""
    return [
        g
        for n in names
        for g in (Grant(AclType.SUBSCRIBE_LITERAL, n), Grant(AclType.PUBLISH_RECEIVE, n))
    ]


def device_grants(device_id: str, kind: AccountKind = AccountKind.KIOSK) -> tuple[Grant, ...]:
    """A kiosk or phone: its own reports, photos, status and report-status requests out (a
    kiosk also its "call staff" help requests, a phone its report addenda); its receipts,
    notices, the photos of its notices (one filter, ``notices/+/photo``), the answers to its
    requests (``answers/+``) and (retained) status in."""
    own = (
        topics.device_help(device_id)
        if kind is AccountKind.KIOSK
        else topics.device_addenda(device_id)
    )
    return (
        *_send(
            topics.device_reports(device_id),
            _any(topics.device_photos(device_id, _ANY_UUID), -1),
            topics.device_status(device_id),
            topics.device_report_status(device_id),
            own,
        ),
        *_read_literal(
            topics.device_receipts(device_id),
            topics.device_notices(device_id),
            topics.device_notice_photos(device_id),
            topics.device_status(device_id),
            topics.device_answers_filter(device_id),
        ),
    )


def volunteer_grants(volunteer_id: str) -> tuple[Grant, ...]:
    """A volunteer's app (or OwnTracks with the volunteer id as user): location, responses,
    OwnTracks positions, alert catch-up and case photo requests out; its own alerts, the
    answers to its requests (``answers/+``) and the photos of its cases (``photos/+``) in."""
    return (
        *_send(
            topics.volunteer_location(volunteer_id),
            topics.volunteer_responses(volunteer_id),
            _any(topics.owntracks(volunteer_id, _ANY_ID), -1),
            topics.volunteer_catchup(volunteer_id),
            topics.volunteer_photo_requests(volunteer_id),
        ),
        *_read_literal(
            topics.volunteer_alerts(volunteer_id),
            topics.volunteer_answers_filter(volunteer_id),
            topics.volunteer_photos_filter(volunteer_id),
        ),
    )


def station_grants(station_id: str) -> tuple[Grant, ...]:
    """A police station console: reads its own station's alerts, publishes nothing."""
    return tuple(_read_literal(topics.station_alerts(station_id)))


def worker_grants(share_group: str = DEFAULT_SHARE_GROUP) -> tuple[Grant, ...]:
    """A backend worker: consumes reports, photos, status, responses and the apps' requests
    through the share group, every volunteer position without a group; publishes receipts,
    notices, alerts, answers and volunteers' case photos."""
    shared_filters = (
        topics.ALL_DEVICE_REPORTS,
        topics.ALL_DEVICE_PHOTOS,
        topics.ALL_DEVICE_STATUS,
        topics.ALL_VOLUNTEER_RESPONSES,
        topics.ALL_DEVICE_HELP,
        topics.ALL_DEVICE_REPORT_STATUS,
        topics.ALL_DEVICE_ADDENDA,
        topics.ALL_VOLUNTEER_CATCHUP,
        topics.ALL_VOLUNTEER_PHOTO_REQUESTS,
    )
    plain_filters = (topics.ALL_VOLUNTEER_LOCATIONS, topics.ALL_OWNTRACKS)
    return (
        *(Grant(AclType.SUBSCRIBE_PATTERN, topics.shared(share_group, f)) for f in shared_filters),
        *(Grant(AclType.SUBSCRIBE_PATTERN, f) for f in plain_filters),
        *(Grant(AclType.PUBLISH_RECEIVE, f) for f in (*shared_filters, *plain_filters)),
        *_send(
            _any(topics.device_receipts(_ANY_ID), 3),
            _any(topics.device_notices(_ANY_ID), 3),
            topics.ALL_NOTICE_PHOTOS,
            _any(topics.volunteer_alerts(_ANY_ID), 3),
            _any(topics.station_alerts(_ANY_ID), 3),
            _any(topics.device_answers_filter(_ANY_ID), 3),
            _any(topics.volunteer_answers_filter(_ANY_ID), 3),
            _any(topics.volunteer_photos_filter(_ANY_ID), 3),
        ),
    )


def admin_grants() -> tuple[Grant, ...]:
    """Provisioning: the dynamic security plugin's request and response topics."""
    return (
        Grant(AclType.PUBLISH_SEND, DYNSEC_CONTROL_TOPICS),
        Grant(AclType.SUBSCRIBE_PATTERN, DYNSEC_CONTROL_TOPICS),
        Grant(AclType.PUBLISH_RECEIVE, DYNSEC_CONTROL_TOPICS),
    )


def role_name(account: Account, share_group: str = DEFAULT_SHARE_GROUP) -> str:
    """The dynamic security role holding ``account``'s grants.

    Device, volunteer and station grants name the account's own id, so each such account
    has its own role, ``<kind>:<username>`` (Mosquitto 2.0's plugin substitutes no ``%u``).
    Workers share ``worker`` (``worker:<group>`` for another share group); admins ``admin``.
    """
    if account.kind is AccountKind.WORKER:
        return "worker" if share_group == DEFAULT_SHARE_GROUP else f"worker:{share_group}"
    if account.kind is AccountKind.ADMIN:
        return "admin"
    return f"{account.kind}:{account.username}"


def grants_for(account: Account, share_group: str = DEFAULT_SHARE_GROUP) -> tuple[Grant, ...]:
    """Everything ``account`` may do; the broker refuses the rest."""
    kind = account.kind
    if kind in (AccountKind.KIOSK, AccountKind.PHONE):
        return device_grants(account.username, kind)
    if kind is AccountKind.VOLUNTEER:
        return volunteer_grants(account.username)
    if kind is AccountKind.STATION:
        return station_grants(account.username)
    if kind is AccountKind.WORKER:
        return worker_grants(share_group)
    return admin_grants()
