"""The requests an app makes besides reports, and the backend's answers (``protocol.requests``):
a kiosk's call for staff, a report's state, an addition to a sent report, a volunteer's
catch-up of missed alerts on every connect and the photo of a case it was alerted about.

A part of ``MqttLink`` (kept apart so each file has one subject): it publishes through the
link's ``_publish``, answers reach the listener through ``post``, never on paho's thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from kiosk_app.config import AppConfig, Mode
from protocol import (
    AddendumAnswer,
    AlertCatchUpAnswer,
    AlertCatchUpRequest,
    CasePhotoRequest,
    HelpAnswer,
    HelpRequest,
    ReportAddendum,
    ReportStatusAnswer,
    ReportStatusRequest,
    RequestRefused,
    new_report_id,
    topics,
)
from protocol.payloads import utc_now
from protocol.topics import AnswerKind

log = logging.getLogger(__name__)


class AnswerListener(Protocol):
    """The answers part of ``LinkListener``."""

    def on_help_answer(self, answer: HelpAnswer) -> None: ...
    def on_report_status(self, answer: ReportStatusAnswer) -> None: ...
    def on_addendum_answer(self, answer: AddendumAnswer) -> None: ...
    def on_catchup(self, answer: AlertCatchUpAnswer) -> None: ...
    def on_case_photo(self, case_id: str, photo: bytes) -> None: ...


class RequestsAndAnswers:
    config: AppConfig
    listener: Any
    post: Callable[[Callable[[], None]], None]
    _connected: threading.Event
    _subscriptions: list[str]
    _handlers: dict[str, Callable[[bytes], None]]

    def _publish(
        self, topic: str, payload: bytes, report_id: str | None, *, retain: bool = False
    ) -> bool:
        raise NotImplementedError

    def _route_requests(self) -> None:
        """Subscribe to the answers (and a volunteer's case photos); route them."""
        device = self.config.device_id
        if self.config.mode is Mode.VOLUNTEER:
            self._subscriptions += [
                topics.volunteer_answers_filter(device),
                topics.volunteer_photos_filter(device),
            ]
            catchup = topics.volunteer_answers(device, AnswerKind.CATCHUP)
            self._handlers[catchup] = self._handle_catchup
            refused = topics.volunteer_answers(device, AnswerKind.REFUSED)
            self._handlers[refused] = self._handle_refused
            return
        self._subscriptions.append(topics.device_answers_filter(device))
        for kind, handler in (
            (AnswerKind.HELP, self._handle_help_answer),
            (AnswerKind.REPORT_STATUS, self._handle_status_answer),
            (AnswerKind.ADDENDA, self._handle_addendum_answer),
            (AnswerKind.REFUSED, self._handle_refused),
        ):
            self._handlers[topics.device_answers(device, kind)] = handler

    @property
    def online(self) -> bool:
        return self._connected.is_set()

    def publish_help(self, request: HelpRequest) -> bool:
        """A kiosk's call for staff; True if the broker connection took it now (a call for
        help queued for later is no call: the screen says so)."""
        if not self.online:
            return False
        return self._publish(topics.device_help(self.config.device_id), request.to_json(), None)

    def ask_report_status(self, request: ReportStatusRequest) -> bool:
        if not self.online:
            return False
        topic = topics.device_report_status(self.config.device_id)
        return self._publish(topic, request.to_json(), None)

    def publish_addendum(self, addendum: ReportAddendum, photo: bytes | None = None) -> bool:
        """A note and/or photo for a sent report: the photo first (under the addendum's id),
        then the addendum that announces it. Queued by paho while offline."""
        device = self.config.device_id
        if photo is not None:
            self._publish(topics.device_photos(device, addendum.addendum_id), photo, None)
        return self._publish(topics.device_addenda(device), addendum.to_json(), None)

    def request_case_photo(self, case_id: str) -> bool:
        request = CasePhotoRequest(request_id=new_report_id(), case_id=case_id, sent_at=utc_now())
        topic = topics.volunteer_photo_requests(self.config.device_id)
        return self._publish(topic, request.to_json(), None)

    def _ask_catchup(self) -> None:
        """On every connect: the alerts sent while this app was away (or never connected)
        come again on the alerts topic; the broker's session alone misses those sent before
        the first connect."""
        request = AlertCatchUpRequest(request_id=new_report_id(), sent_at=utc_now())
        self._publish(topics.volunteer_catchup(self.config.device_id), request.to_json(), None)

    def _case_photo(self, topic: str, payload: bytes) -> bool:
        """A case's photo on a volunteer's photos topic; False for any other topic."""
        if self.config.mode is not Mode.VOLUNTEER:
            return False
        parsed = _parsed(topic)
        if parsed is None or parsed.kind is not topics.TopicKind.VOLUNTEER_PHOTOS:
            return False
        case_id = parsed.sub_id or ""
        self.post(lambda: self.listener.on_case_photo(case_id, payload))
        return True

    def _handle_catchup(self, payload: bytes) -> None:
        answer = AlertCatchUpAnswer.from_json(payload)
        self.post(lambda: self.listener.on_catchup(answer))

    def _handle_help_answer(self, payload: bytes) -> None:
        answer = HelpAnswer.from_json(payload)
        self.post(lambda: self.listener.on_help_answer(answer))

    def _handle_status_answer(self, payload: bytes) -> None:
        answer = ReportStatusAnswer.from_json(payload)
        self.post(lambda: self.listener.on_report_status(answer))

    def _handle_refused(self, payload: bytes) -> None:
        """This app sent a request the backend could not take: a bug of the app (its own
        requests are built by the protocol's classes), so it goes to the log, not the
        screen; a waiting "call staff" or status screen keeps its fallback (110)."""
        refused = RequestRefused.from_json(payload)
        log.warning(
            "the backend refused our %s request %s: %s",
            refused.request.value,
            refused.request_id or "(id unreadable)",
            "; ".join(f"{p.path}: {p.code}: {p.message}" for p in refused.problems),
        )

    def _handle_addendum_answer(self, payload: bytes) -> None:
        answer = AddendumAnswer.from_json(payload)
        self.post(lambda: self.listener.on_addendum_answer(answer))


def _parsed(topic: str) -> topics.ParsedTopic | None:
    try:
        return topics.parse_topic(topic)
    except ValueError:
        return None
