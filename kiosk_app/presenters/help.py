"""Help one tap away, on every passenger screen: a phone dials 110 (through the platform's
dialer), a kiosk calls the station's staff (a help request to the station's desk). Next to
the button, what the person must know right now: a report still waiting on this device
(no connection) is NOT with anyone yet, so they should call or tell staff themselves.

No widgets: the help bar binds to ``button_text``, ``note`` and ``staff_call``."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from kivy.event import EventDispatcher
from kivy.properties import StringProperty

from kiosk_app.i18n import N_, ntr, tr
from kiosk_app.platform.dial import EMERGENCY_NUMBER, Dialer
from kiosk_app.presenters.shell import Shell


class StaffCall(StrEnum):
    """Where a kiosk's call for staff stands."""

    NONE = ""
    SENT = "sent"  # handed to the broker: on its way to the station's desk
    CALLED = "called"  # the backend put it on the station's desk
    SEEN = "acknowledged"  # someone at the desk took it
    NO_STATION = "no_station"  # this kiosk belongs to no station's desk
    OFFLINE = "offline"  # no connection: nobody was told; go to staff or use the intercom
    UNAVAILABLE = "unavailable"  # this app cannot send one: say what to do instead


BUTTON_PHONE = N_("Call 110")
BUTTON_KIOSK = N_("Call station staff")
STAFF_TEXT = {
    StaffCall.SENT: N_("Calling station staff…"),
    StaffCall.CALLED: N_("Station staff have been called. Stay at this screen if you can."),
    StaffCall.SEEN: N_("Station staff have seen your call and are coming."),
    StaffCall.NO_STATION: N_(
        "This kiosk cannot reach the station's staff. Call 110 or go to the service centre."
    ),
    StaffCall.OFFLINE: N_(
        "No connection: staff were NOT called. Go to the service centre or use the help intercom."
    ),
    StaffCall.UNAVAILABLE: N_(
        "Staff cannot be called from this screen. Go to the service centre or use the help "
        "intercom."
    ),
}


def waiting_note(pending: int, lang: str) -> str:
    """The offline fallback: a report waiting on the device is with nobody yet."""
    if pending <= 0:
        return ""
    return ntr(
        "%(n)d report is waiting on this device and has NOT been passed on yet.",
        "%(n)d reports are waiting on this device and have NOT been passed on yet.",
        pending,
        lang,
    ) % {"n": pending}


class HelpPresenter(EventDispatcher):
    """``dialer`` on a phone; ``call_staff`` on a kiosk: sends the help request and says
    whether it left (True), or None when this app has no way to send one."""

    button_text = StringProperty("")  # "Call 110" / "Call station staff" (kiosk: zh + en)
    note = StringProperty("")  # what the person must know next to the button
    staff_call = StringProperty("")  # a StaffCall value

    def __init__(
        self,
        shell: Shell,
        dialer: Dialer | None = None,
        call_staff: Callable[[], bool | None] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.shell = shell
        self.dialer = dialer
        self.call_staff = call_staff
        self.calls: list[str] = []  # what this session asked for, in order (log and tests)
        shell.bind(lang=self.render, waiting=self.render, mode=self.render)
        self.render()

    @property
    def kiosk(self) -> bool:
        return self.shell.mode == "kiosk"

    def press(self) -> None:
        """The help button: dial 110 on a phone, call the station's staff on a kiosk."""
        if self.kiosk:
            self.calls.append("staff")
            sent = self.call_staff() if self.call_staff is not None else None
            if sent is None:
                self.staff_call = StaffCall.UNAVAILABLE.value
            elif sent and self.shell.connection == "online":
                self.staff_call = StaffCall.SENT.value
            else:
                self.staff_call = StaffCall.OFFLINE.value
        else:
            self.calls.append(EMERGENCY_NUMBER)
            if self.dialer is not None:
                self.dialer.dial(EMERGENCY_NUMBER)
        self.render()

    def staff_answered(self, state: str) -> None:
        """The backend's answer to the call: ``called`` (on the desk), ``acknowledged`` (taken
        by someone there) or ``no_station``. A late ``called`` never undoes ``acknowledged``."""
        if not self.staff_call or state not in {c.value for c in StaffCall}:
            return
        if state == StaffCall.CALLED and self.staff_call == StaffCall.SEEN:
            return
        self.staff_call = state
        self.render()

    def clear(self) -> None:
        """Idle reset: the next person sees no trace of this call."""
        self.staff_call = StaffCall.NONE.value
        self.render()

    def render(self, *_: object) -> None:
        shell, lang = self.shell, self.shell.lang
        msgid = BUTTON_KIOSK if self.kiosk else BUTTON_PHONE
        self.button_text = (
            f"{tr(msgid, 'zh')}\n{tr(msgid, 'en')}" if shell.bilingual else tr(msgid, lang)
        )
        lines = []
        if self.staff_call:
            lines.append(tr(STAFF_TEXT[StaffCall(self.staff_call)], lang))
        note = waiting_note(int(shell.waiting), lang)
        if note:
            lines.append(note)
        self.note = "\n".join(lines)
