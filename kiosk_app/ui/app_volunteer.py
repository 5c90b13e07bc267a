"""The App's volunteer part: the duty toggle and location sharing, answers to alerts, the
Navigate button."""

from __future__ import annotations

import time
from typing import Any

from kiosk_app.presenters.inbox import Duty
from kiosk_app.presenters.volunteer import VolunteerPresenter
from protocol import Location


class VolunteerActions:
    duty: Duty
    volunteer: VolunteerPresenter
    link: Any
    location: Any
    navigator: Any

    def current_location(self) -> Location:
        raise NotImplementedError

    def _update_location_text(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ volunteer

    def toggle_duty(self) -> None:
        self.duty.toggle()
        self.volunteer.duty_active = self.duty.on_duty
        if not self.duty.on_duty and self.link is not None:
            loc = self.current_location()  # one last message: off duty, stop routing to me
            self.link.publish_location(self.duty.location(loc.lat, loc.lon, loc.accuracy_m))
        self.duty_tick()
        self.volunteer.render()

    def _duty_tick(self, dt: float) -> None:
        self.duty_tick()

    def duty_tick(self, now_s: float | None = None) -> bool:
        """Share the location when due. True if a location was published."""
        moment = time.monotonic() if now_s is None else now_s
        if self.link is None or not self.duty.due(moment):
            return False
        loc = self.location.current()
        if loc is None:
            return False
        self.link.publish_location(self.duty.location(loc.lat, loc.lon, loc.accuracy_m))
        self.duty.sent(moment)
        self._update_location_text()
        return True

    def respond(self, alert_id: str, kind: str) -> None:
        response = self.volunteer.respond(alert_id, kind)
        if self.link is not None:
            self.link.publish_response(response)

    def navigate(self, uri: str) -> None:
        self.navigator.open(uri)
