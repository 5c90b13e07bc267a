"""After sending: what became of the report (a status request over MQTT, answered by the
backend) and, on a phone, a note or a photo added to the sent report (an addendum).

The wire is the App's business: this presenter gets two callables, ``ask_status(reference)``
and ``send_addendum(report_id, note, photo)``, each returning True when the message left
(or is queued for the broker), False when it could not, None when this app cannot send it
at all. Answers come back through ``status_arrived``."""

from __future__ import annotations

from collections.abc import Callable

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, StringProperty

from kiosk_app.i18n import N_, tr

AskStatus = Callable[[str], bool | None]
SendAddendum = Callable[[str, str | None, bytes | None], bool | None]

# The report's state as the backend names it, in words for the person holding the reference.
STATE_TEXT = {  # protocol.ReportState values
    "received": N_("Received: stored and passed to the police of the station"),
    "seen_by_police": N_("Seen by the police, who are following it up"),
    "closed": N_("Closed: the police or volunteers finished with it"),
    "unknown": N_("Not found: this reference is unknown (a refused report is not stored)"),
}
ASKING = N_("Asking for the state of your report…")
NO_ANSWER_OFFLINE = N_("No connection: the state cannot be asked now.")
CANNOT_ASK = N_("The state of a report cannot be asked from this app yet.")
ADDING = N_("Sending your addition…")
ADDED = N_("Added to your report.")
NOT_ADDED = N_("This could not be added to your report.")
ADD_WAITING = N_("No connection: your addition will be sent when the connection is back.")
CANNOT_ADD = N_("Nothing can be added to a report from this app yet.")


def state_text(state: str, lang: str) -> str:
    msgid = STATE_TEXT.get(state)
    return tr(msgid, lang) if msgid else state


class FollowUpPresenter(EventDispatcher):
    report_id = StringProperty("")  # the sent report this confirmation is about
    reference = StringProperty("")  # its reference (what the status request names)
    state = StringProperty("")  # the backend's word for it, once answered
    status_text = StringProperty("")  # the state in words (or why there is none)
    addendum_text = StringProperty("")  # what became of the last addition
    can_add = BooleanProperty(False)  # a phone, with a sent report

    def __init__(
        self,
        mode: str,
        ask_status: AskStatus | None = None,
        send_addendum: SendAddendum | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.ask_status = ask_status
        self.send_addendum = send_addendum
        self._status_id = ""  # msgid of status_text, re-translated on a language switch
        self._addendum_id = ""
        self.lang = "zh"

    def sent(self, report_id: str, reference: str) -> None:
        self.report_id = report_id
        self.reference = reference.upper()
        self.state = ""
        self._set(status="", addendum="")
        self.can_add = self.mode == "phone"

    def clear(self) -> None:
        self.report_id = ""
        self.reference = ""
        self.state = ""
        self.can_add = False
        self._set(status="", addendum="")

    def request_status(self) -> bool:
        """Ask the backend what became of the report; True if the question left."""
        if not self.report_id:
            return False
        if self.ask_status is None:
            self._set(status=CANNOT_ASK)
            return False
        sent = self.ask_status(self.reference)
        if sent is None:
            self._set(status=CANNOT_ASK)
        elif sent:
            self._set(status=ASKING)
        else:
            self._set(status=NO_ANSWER_OFFLINE)
        return bool(sent)

    def status_arrived(self, reference: str, state: str) -> bool:
        """The backend's answer; ignored unless it is about the report on screen."""
        if not self.reference or reference.upper() != self.reference:
            return False
        self.state = state
        self._status_id = ""
        self.status_text = state_text(state, self.lang)
        return True

    def add(self, note: str | None = None, photo: bytes | None = None) -> bool:
        """A note or a photo for the sent report (phone only)."""
        note = (note or "").strip() or None
        if not self.can_add or (note is None and photo is None):
            return False
        if self.send_addendum is None:
            self._set(addendum=CANNOT_ADD)
            return False
        sent = self.send_addendum(self.report_id, note, photo)
        self._set(addendum=CANNOT_ADD if sent is None else ADDING if sent else ADD_WAITING)
        return bool(sent)

    def addendum_answered(self, report_id: str, status: str) -> None:
        """The backend's answer to an addition: stored (accepted, duplicate) or refused."""
        if report_id == self.report_id:
            self._set(addendum=NOT_ADDED if status == "rejected" else ADDED)

    def set_lang(self, lang: str) -> None:
        self.lang = lang
        if self._status_id:
            self.status_text = tr(self._status_id, lang)
        elif self.state:
            self.status_text = state_text(self.state, lang)
        if self._addendum_id:
            self.addendum_text = tr(self._addendum_id, lang)

    def _set(self, *, status: str | None = None, addendum: str | None = None) -> None:
        if status is not None:
            self._status_id = status
            self.status_text = tr(status, self.lang) if status else ""
        if addendum is not None:
            self._addendum_id = addendum
            self.addendum_text = tr(addendum, self.lang) if addendum else ""
