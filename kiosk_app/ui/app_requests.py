"""The App's part for help and for what follows a report: a kiosk's call for staff, a
report's state and a phone's additions to it, a volunteer's missed alerts and case photos.
It builds the ``protocol.requests`` messages and hands the answers to the presenters."""

from __future__ import annotations

import logging
from typing import Any

from kiosk_app.config import AppConfig
from kiosk_app.presenters.followup import FollowUpPresenter
from kiosk_app.presenters.help import HelpPresenter
from kiosk_app.presenters.shell import Shell
from kiosk_app.presenters.volunteer import VolunteerPresenter
from protocol import (
    AddendumAnswer,
    Alert,
    AlertCatchUpAnswer,
    HelpAnswer,
    HelpRequest,
    ReportAddendum,
    ReportStatusAnswer,
    ReportStatusRequest,
    new_report_id,
)
from protocol.payloads import utc_now

log = logging.getLogger(__name__)


class HelpAndFollowUp:
    settings: AppConfig
    shell: Shell
    help: HelpPresenter
    follow: FollowUpPresenter
    volunteer: VolunteerPresenter
    link: Any
    camera: Any
    _photos_asked: set[tuple[str, str]]

    def _post(self, fn: Any) -> None:
        raise NotImplementedError

    def _prepared(self, raw: bytes | None) -> bytes | None:
        raise NotImplementedError

    # ------------------------------------------------------------------ answers

    def on_catchup(self, answer: AlertCatchUpAnswer) -> None:
        """The missed alerts came again on the alerts topic (shown as they arrived)."""
        log.info("catch-up: %d live alerts", len(answer.alert_ids))

    def on_case_photo(self, case_id: str, photo: bytes) -> None:
        self.volunteer.photo_arrived(case_id, photo)

    def on_help_answer(self, answer: HelpAnswer) -> None:
        self.help.staff_answered(answer.state.value)

    def on_report_status(self, answer: ReportStatusAnswer) -> None:
        self.follow.status_arrived(answer.reference, answer.state.value)

    def on_addendum_answer(self, answer: AddendumAnswer) -> None:
        self.follow.addendum_answered(answer.report_id or "", answer.status.value)

    def _ask_case_photo(self, alert: Alert) -> None:
        """A volunteer gets the case's photo by asking (once per photo version)."""
        if not alert.case_id or not alert.photo_ref or self.link is None:
            return
        key = (alert.case_id, alert.photo_ref)
        if key not in self._photos_asked and self.link.request_case_photo(alert.case_id):
            self._photos_asked.add(key)

    # ------------------------------------------------------------------ requests

    def call_staff(self) -> bool:
        """A kiosk's "call staff": a help request to the station's desk. False when offline
        (the screen then says that nobody was called)."""
        if self.link is None:
            return False
        request = HelpRequest(
            request_id=new_report_id(),
            device_id=self.settings.device_id,
            sent_at=utc_now(),
            language=self.shell.lang,
            report_id=self.follow.report_id or None,
        )
        return self.link.publish_help(request)

    def ask_status(self, reference: str) -> bool:
        if self.link is None:
            return False
        request = ReportStatusRequest(
            request_id=new_report_id(),
            device_id=self.settings.device_id,
            sent_at=utc_now(),
            reference=reference,
        )
        return self.link.ask_report_status(request)

    def check_status(self) -> None:
        self.follow.request_status()

    def send_addendum(self, report_id: str, note: str | None, photo: bytes | None) -> bool:
        if self.link is None:
            return False
        addendum = ReportAddendum(
            addendum_id=new_report_id(),
            report_id=report_id,
            device_id=self.settings.device_id,
            sent_at=utc_now(),
            note=note,
            has_photo=photo is not None,
        )
        self.link.publish_addendum(addendum, photo)
        return self.link.online

    def add_photo(self) -> None:
        """A photo for the sent report (phone): taken, prepared like a report's, sent."""

        def done(raw: bytes | None) -> None:
            def apply() -> None:
                jpeg = self._prepared(raw)
                if jpeg is not None:
                    self.follow.add(photo=jpeg)

            self._post(apply)

        self.camera.take(done)
