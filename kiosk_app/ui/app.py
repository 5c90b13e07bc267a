"""The App: wires configuration, outbox, MQTT link, platform facades, presenters and screens.
Screens own their layout and bind to presenters; presenters own the decisions; this class
only connects them and does what needs the link, the camera or the clock."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.uix.screenmanager import ScreenManager

from kiosk_app.config import AppConfig, Mode
from kiosk_app.link import LinkState, MqttLink
from kiosk_app.outbox import Outbox, OutboxEntry, OutboxStats
from kiosk_app.photos import PhotoError, prepare_photo
from kiosk_app.platform.camera import Camera, camera_for
from kiosk_app.platform.dial import Dialer, dialer_for
from kiosk_app.platform.language import system_language
from kiosk_app.platform.location import LocationProvider, provider_for
from kiosk_app.platform.navigate import Navigator, navigator_for
from kiosk_app.platform.notify import Notifier, notifier_for
from kiosk_app.presenters.followup import FollowUpPresenter
from kiosk_app.presenters.help import HelpPresenter
from kiosk_app.presenters.idle import IdleTimer, at_rest
from kiosk_app.presenters.inbox import Duty
from kiosk_app.presenters.notices import NoticePresenter
from kiosk_app.presenters.operator import OperatorPresenter
from kiosk_app.presenters.position import location_text, place_text
from kiosk_app.presenters.reporting import ReportPresenter
from kiosk_app.presenters.shell import Shell, initial_language
from kiosk_app.presenters.status import OperatorFacts
from kiosk_app.presenters.volunteer import VolunteerPresenter
from kiosk_app.ui import screens, theme
from kiosk_app.ui.app_requests import HelpAndFollowUp
from kiosk_app.ui.app_volunteer import VolunteerActions
from kiosk_app.ui.fonts import install_default_font
from kiosk_app.ui.transitions import CutTransition
from protocol import (
    Alert,
    Location,
    LocationSource,
    NoticeBoard,
    Receipt,
    SightingReport,
    WhatSeen,
    new_report_id,
)
from protocol.payloads import utc_now

log = logging.getLogger(__name__)
KV_DIR = Path(__file__).with_name("kv")
TEST_REPORT_TEXT = "[TEST] operator test report, please ignore"

REPORTER_SCREENS = (
    ("home", screens.HomeScreen),
    ("what", screens.WhatScreen),
    ("child", screens.ChildScreen),
    ("details", screens.DetailsScreen),
    ("confirm", screens.ConfirmScreen),
    ("notice", screens.NoticeScreen),
    ("pin", screens.PinScreen),
    ("operator", screens.OperatorScreen),
)
VOLUNTEER_SCREENS = (("volunteer", screens.VolunteerScreen), ("alert", screens.AlertScreen))
IDLE_CHECK_EVERY_S = 0.5  # how often the Kivy clock looks at the idle timer


class SightingApp(HelpAndFollowUp, VolunteerActions, App):
    def __init__(
        self,
        settings: AppConfig,
        *,
        camera: Camera | None = None,
        location: LocationProvider | None = None,
        notifier: Notifier | None = None,
        navigator: Navigator | None = None,
        dialer: Dialer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.mode = settings.mode
        self.title = f"Sighting report — {settings.mode.value}"
        self.camera = camera or camera_for(settings.camera_image)
        self.location = location or provider_for(
            settings.mode.value, settings.lat, settings.lon, settings.accuracy_m
        )
        self.notifier = notifier or notifier_for()
        self.navigator = navigator or navigator_for()
        self.dialer = dialer or dialer_for()
        self._state_path = settings.data_dir / "state.json"
        lang = initial_language(
            self.mode.value,
            settings.language,
            settings.language_configured,
            self._load_state().get("language"),
            system_language(),
        )
        self.shell = Shell(self.mode.value, lang)
        if self.mode is Mode.VOLUNTEER:
            self.shell.screen = "volunteer"
        self.report = ReportPresenter(self.shell)
        self.operator = OperatorPresenter(self.shell, settings.operator_pin)
        self.operator.source = self.operator_facts
        self.notices = NoticePresenter(self.shell, self.report)
        self.volunteer = VolunteerPresenter(self.shell, self.location.current)
        self.help = HelpPresenter(self.shell, dialer=self.dialer, call_staff=self.call_staff)
        self.follow = FollowUpPresenter(
            self.mode.value, ask_status=self.ask_status, send_addendum=self.send_addendum
        )
        self.follow.set_lang(self.shell.lang)
        self.shell.bind(lang=lambda shell, lang: self.follow.set_lang(lang))
        self._photos_asked: set[tuple[str, str]] = set()  # (case id, photo ref) asked for
        self.idle = IdleTimer(settings.idle_timeout_s, confirm_timeout_s=settings.confirm_timeout_s)
        self.duty = Duty(settings.location_interval_s)
        self.outbox: Outbox | None = None
        self.link: MqttLink | None = None
        self.last_receipt: Receipt | None = None
        self._events: list[Any] = []
        self.shell.bind(lang=lambda *_: self._update_location_text())

    # ------------------------------------------------------------------ wiring

    def build(self) -> ScreenManager:
        install_default_font(self.settings.font_path)
        Window.clearcolor = theme.BG
        Builder.load_file(str(KV_DIR / "common.kv"))
        manager = ScreenManager(transition=CutTransition())
        wanted = VOLUNTEER_SCREENS if self.mode is Mode.VOLUNTEER else REPORTER_SCREENS
        presenters = {
            "notices": self.notices if self.mode is Mode.KIOSK else None,
            "op": self.operator,
            "vol": self.volunteer,
            "help": self.help if self.mode is not Mode.VOLUNTEER else None,
            "follow": self.follow,
        }
        for name, cls in wanted:
            if name == "notice" and self.mode is not Mode.KIOSK:
                continue
            Builder.load_file(str(KV_DIR / f"{name}.kv"))
            extra = {k: v for k, v in presenters.items() if hasattr(cls, k)}
            screen = cls(
                name=name,
                shell=self.shell,
                actions=self,
                settings=self.settings,
                report=self.report,
                **extra,
            )
            screen.setup()
            manager.add_widget(screen)
        manager.current = self.shell.screen
        self.shell.bind(screen=lambda shell, name: setattr(manager, "current", name))
        return manager

    def on_start(self) -> None:
        self.outbox = Outbox(
            self.settings.data_dir / "outbox.sqlite3",
            retry_min_s=self.settings.retry_min_s,
            retry_max_s=self.settings.retry_max_s,
        )
        self.link = MqttLink(self.settings, self.outbox, self, post=self._post)
        self.link.start()
        self.location.start()
        self._update_location_text()
        Window.bind(on_touch_down=self._on_any_touch)
        # the callbacks return None: a False would make Kivy cancel the repeating event
        self._events.append(Clock.schedule_interval(self._idle_tick, IDLE_CHECK_EVERY_S))
        if self.mode is not Mode.KIOSK:  # GPS fixes arrive on their own thread: poll them
            self._events.append(
                Clock.schedule_interval(lambda dt: self._update_location_text(), 1.0)
            )
        if self.mode is Mode.VOLUNTEER:
            self._events.append(Clock.schedule_interval(self._duty_tick, 1.0))

    def on_stop(self) -> None:
        Window.unbind(on_touch_down=self._on_any_touch)
        for event in self._events:
            event.cancel()
        self._events.clear()
        self.location.stop()
        self.shutdown_link()

    def shutdown_link(self) -> None:
        """Close the connection and the outbox (what quitting the app does to them)."""
        if self.link is not None:
            self.link.stop()
            self.link = None
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None

    def _post(self, fn: Any) -> None:
        Clock.schedule_once(lambda dt: fn(), 0)

    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, **changes: Any) -> None:
        state = self._load_state() | changes
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        self._state_path.write_text(json.dumps(state), encoding="utf-8")

    # ------------------------------------------------------------------ link listener

    def on_link_state(self, state: LinkState, detail: str) -> None:
        self.shell.connection = state.value
        self.operator.refresh()
        if state is LinkState.ONLINE and self.mode is Mode.VOLUNTEER:
            self._photos_asked.clear()  # photos missed while away are asked for again
            for item in self.volunteer.inbox.items():
                self._ask_case_photo(item.alert)

    def on_outbox(self, stats: OutboxStats) -> None:
        self.shell.waiting = stats.pending
        self.shell.rejected_count = stats.rejected
        self.operator.refresh()

    def on_receipt(self, receipt: Receipt, entry: OutboxEntry | None) -> None:
        self.last_receipt = receipt
        if self.mode is not Mode.VOLUNTEER:
            before = self.report.delivery
            self.report.receipt_arrived(receipt)
            if self.report.delivery == "delivered" and before != "delivered":
                self.check_status()  # the confirmation shows what became of it
        self.operator.refresh()

    def on_notices(self, board: NoticeBoard) -> None:
        self.notices.board_arrived(board)

    def on_notice_photo(self, case_id: str, photo: bytes) -> None:
        self.notices.photo_arrived(case_id, photo)

    def on_alert(self, alert: Alert) -> None:
        if self.volunteer.receive(alert).value != "stale":
            self.notifier.notify(*self.volunteer.notification())
            self._ask_case_photo(alert)

    def on_publish_error(self, topic: str, reason: str) -> None:
        self.operator.last_error = f"{topic}: {reason}"
        self.operator.refresh()

    # ------------------------------------------------------------------ idle and language

    def _on_any_touch(self, window: Any, touch: Any) -> None:
        self.idle.touch()

    def _idle_tick(self, dt: float) -> None:
        self.check_idle()

    def check_idle(self, now: float | None = None) -> bool:
        """After the idle timeout (sooner on a confirmation) wipe everything of the last
        person and go home in the default language. True if it did. Kiosks only."""
        if self.mode is not Mode.KIOSK:
            return False
        screen = self.shell.screen
        expired = self.idle.expired(now, confirming=screen == "confirm")
        if not expired or at_rest(self.shell, self.report, self.notices, self.help):
            return False
        log.info("idle reset: no touch for %.0f s on screen %r", self.idle.idle_for(now), screen)
        self.reset_to_home()
        return True

    def reset_to_home(self) -> None:
        self.report.clear()
        self.report.forget_confirmation()
        self.follow.clear()
        self.help.clear()
        self.operator.clear()
        self.notices.selected = None
        if self.mode is Mode.KIOSK:
            self.shell.reset_language()
        self.shell.go("home")
        self.idle.touch()

    def toggle_language(self) -> None:
        lang = self.shell.toggle_language()
        if self.mode is not Mode.KIOSK:  # one's own phone keeps the language one chose
            self.set_default_language(lang)

    def set_default_language(self, lang: str) -> None:
        self.shell.default_lang = lang
        self._save_state(language=lang)
        self.operator.refresh()

    def _update_location_text(self) -> None:
        here, lang = self.location.current(), self.shell.lang
        self.shell.location_text = location_text(here, lang)
        if self.mode is Mode.PHONE:
            self.shell.place_text = place_text(here, lang)

    # ------------------------------------------------------------------ report

    def take_photo(self) -> None:
        def done(raw: bytes | None) -> None:
            def apply() -> None:
                jpeg = self._prepared(raw)
                if jpeg is not None:
                    self.report.attach_photo(jpeg)

            self._post(apply)

        self.camera.take(done)

    def current_location(self) -> Location:
        found = self.location.current()
        if found is not None:
            return found
        return Location(self.settings.lat, self.settings.lon, None, LocationSource.MANUAL)

    def report_location(self) -> Location | None:
        """A phone reports where its GPS (or the placed point) says, never a made-up point:
        None until there is a fix. A kiosk always has its configured position."""
        if self.mode is Mode.PHONE:
            return self.location.current()
        return self.current_location()

    def send(self) -> SightingReport | None:
        location = self.report_location()
        if not self.report.can_send or self.link is None or location is None:
            self._update_location_text()
            return None
        photo = self.report.photo
        report = self.report.build(
            device_id=self.settings.device_id,
            location=location,
            station_id=self.settings.station_id if self.mode is Mode.KIOSK else None,
            app_version=self.settings.app_version,
        )
        self.link.submit(report, photo)
        self.report.sent(report, online=self.shell.connection == "online")
        self.follow.sent(report.report_id, report.reference)
        return report

    def _prepared(self, raw: bytes | None) -> bytes | None:
        if raw is None:
            return None
        try:
            return prepare_photo(
                raw,
                max_side_px=self.settings.photo_max_side_px,
                max_bytes=self.settings.photo_max_bytes,
            )
        except PhotoError as exc:
            log.warning("photo not usable: %s", exc)
            return None

    # ------------------------------------------------------------------ operator panel

    def open_operator(self) -> None:
        self.operator.open()

    def operator_facts(self) -> OperatorFacts:
        outbox = self.outbox
        stats = outbox.stats() if outbox else OutboxStats(0, None, 0)
        broker = f"{self.settings.broker.host}:{self.settings.broker.port}"
        rejected = outbox.rejected() if outbox else []
        return self.operator.facts_of(
            self.settings.device_id, broker, stats, self.last_receipt, rejected
        )

    def send_test_report(self) -> SightingReport | None:
        """A report flagged ``test``: stored and receipted, never matched or alerted on."""
        if self.link is None:
            return None
        report = SightingReport(
            report_id=new_report_id(),
            device_id=self.settings.device_id,
            observed_at=utc_now(),
            location=self.current_location(),
            what_seen=WhatSeen.OTHER,
            station_id=self.settings.station_id,
            free_text=TEST_REPORT_TEXT,
            app_version=self.settings.app_version,
            test=True,
        )
        self.operator.test_ids.add(report.report_id)
        self.link.submit(report)
        return report

    def dismiss_rejected(self) -> None:
        if self.outbox is not None:
            for entry in self.outbox.rejected():
                self.outbox.dismiss_rejected(entry.report_id)
            self.on_outbox(self.outbox.stats())
