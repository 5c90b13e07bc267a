"""Presenters of issue 20 without a window or a broker: help one tap away (the desktop dialer
records 110; a kiosk's call for staff and its answers; the offline note), the follow-up of
a sent report (status by reference, additions), the case on a notice (prefill, both
languages) and on a volunteer alert (the case's child apart from the report's, no "0 m
north"), and the alert's local map."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from kiosk_app.platform.dial import DesktopDialer
from kiosk_app.presenters.followup import FollowUpPresenter
from kiosk_app.presenters.help import HelpPresenter, waiting_note
from kiosk_app.presenters.inbox import InboxItem
from kiosk_app.presenters.minimap import local_xy_m, scale_length_m, sighting_map
from kiosk_app.presenters.notices import NoticePresenter, notice_view
from kiosk_app.presenters.reporting import ReportPresenter
from kiosk_app.presenters.shell import Shell
from kiosk_app.presenters.volunteer import alert_view
from protocol import AgeBand, ChildDescription, Colour, Location, Notice, NoticeBoard, Sex
from tests.kiosk_app.test_volunteer_ui import alert

GIRL_IN_RED = ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED, Colour.WHITE))


def test_the_phone_dials_110_through_the_facade():
    shell, dialer = Shell("phone", "zh"), DesktopDialer()
    help_ = HelpPresenter(shell, dialer=dialer)
    assert help_.button_text == "拨打 110"
    help_.press()
    assert dialer.calls == ["110"] and help_.calls == ["110"]
    shell.lang = "en"
    assert help_.button_text == "Call 110"


def test_a_kiosk_calls_staff_and_follows_the_answers():
    shell = Shell("kiosk", "zh")
    shell.connection = "online"
    sent = []
    help_ = HelpPresenter(shell, call_staff=lambda: sent.append(1) or True)
    assert help_.button_text == "呼叫车站工作人员\nCall station staff"  # Chinese above English
    help_.press()
    assert sent == [1] and help_.staff_call == "sent" and "正在呼叫" in help_.note
    help_.staff_answered("called")
    assert help_.staff_call == "called" and "已呼叫车站工作人员" in help_.note
    help_.staff_answered("acknowledged")
    help_.staff_answered("called")  # late: never undoes "acknowledged"
    assert help_.staff_call == "acknowledged"
    help_.clear()
    assert help_.staff_call == "" and help_.note == ""


def test_a_call_for_staff_offline_says_nobody_was_called():
    shell = Shell("kiosk", "en")
    shell.connection = "offline"
    help_ = HelpPresenter(shell, call_staff=lambda: False)
    help_.press()
    assert help_.staff_call == "offline" and "NOT called" in help_.note


def test_a_report_waiting_offline_is_said_next_to_the_button():
    shell = Shell("phone", "en")
    help_ = HelpPresenter(shell, dialer=DesktopDialer())
    assert help_.note == ""
    shell.waiting = 2
    assert help_.note == waiting_note(2, "en")
    assert "2 reports are waiting on this device" in help_.note
    shell.lang = "zh"
    assert help_.note == "有 2 条举报还在这台设备上等待发送，尚未转交任何人。"


def test_the_status_of_a_sent_report_is_asked_by_its_reference():
    asked = []
    follow = FollowUpPresenter("kiosk", ask_status=lambda ref: asked.append(ref) or True)
    follow.set_lang("en")
    follow.sent("0f8e2b1c-0000-4000-8000-000000000000", "0f8e2b1c")
    assert follow.request_status() and asked == ["0F8E2B1C"]
    assert follow.status_text.startswith("Asking")
    assert not follow.status_arrived("DEADBEEF", "closed")  # another report's answer
    assert follow.status_arrived("0f8e2b1c", "seen_by_police")
    assert follow.status_text == "Seen by the police, who are following it up"
    follow.set_lang("zh")
    assert follow.status_text == "警方已查看，正在跟进"
    assert not follow.can_add  # a kiosk adds nothing after sending


def test_a_phone_adds_a_note_or_a_photo_to_its_sent_report():
    added = []
    follow = FollowUpPresenter(
        "phone", send_addendum=lambda rid, note, photo: added.append((rid, note, photo)) or True
    )
    follow.set_lang("en")
    rid = str(uuid.uuid4())
    follow.sent(rid, rid[:8])
    assert follow.can_add
    assert not follow.add(note="   ")  # nothing to add
    assert follow.add(note=" they went to exit 2 ")
    assert follow.add(photo=b"jpeg")
    assert added == [(rid, "they went to exit 2", None), (rid, None, b"jpeg")]
    follow.addendum_answered(rid, "accepted")
    assert follow.addendum_text == "Added to your report."


def test_i_have_seen_this_child_prefills_what_the_case_knows():
    shell = Shell("kiosk", "zh")
    report = ReportPresenter(shell)
    notices = NoticePresenter(shell, report)
    notice = Notice(
        case_id="case-1",
        title="Girl, 4, red coat",
        description="Last seen at exit 2.",
        relay_contact="400-000-0000",
        since=datetime(2026, 11, 28, tzinfo=UTC),
        child=GIRL_IN_RED,
    )
    notices.board_arrived(NoticeBoard((notice,), datetime(2026, 11, 28, tzinfo=UTC)))
    notices.open("case-1")
    notices.seen_this_child()
    assert (report.case_id, report.age, report.sex) == ("case-1", "3-5", "female")
    assert report.colours == ["red", "white"]
    report.pick_sex("female")  # the passenger can change what the case said
    assert report.sex == ""


def test_title_and_description_in_both_languages_where_the_case_has_them():
    notice = Notice("case-1", "寻找女孩", "穿红衣", "400", datetime(2026, 1, 1, tzinfo=UTC))
    assert notice_view(notice).title == "寻找女孩"  # one language: as written

    class Bilingual:  # a notice that carries both (title_zh / title_en ...)
        def __init__(self) -> None:
            self.__dict__.update(vars_of(notice))
            self.title_zh, self.title_en = "寻找 4 岁女孩", "Girl, 4, red coat"
            self.description_zh, self.description_en = "穿红衣", "Red coat"

    view = notice_view(Bilingual())  # type: ignore[arg-type]
    assert view.title == "寻找 4 岁女孩\nGirl, 4, red coat"
    assert view.description == "穿红衣\nRed coat"


def vars_of(notice: Notice) -> dict[str, object]:
    return {name: getattr(notice, name) for name in notice.__dataclass_fields__}


def test_the_alert_shows_the_case_apart_from_the_report():
    item = InboxItem(alert(str(uuid.uuid4())))
    here = Location(31.2304, 121.4737)
    view = alert_view(item, here, True, "en")
    assert view.case_title == "寻找 4 岁女孩 / Girl, 4, red coat"
    assert view.headline.endswith("Girl, 4, red coat")
    assert "girl" in view.case_child and "Red coat" in view.case_child  # the case's child
    assert view.description.startswith("The latest report saw:")  # the reporter's child
    assert "boy" in view.description and "boy" not in view.case_child
    assert view.where == "450 m north of you"


def test_no_zero_metres_north_when_the_volunteer_is_there():
    near = replace(alert(str(uuid.uuid4())), lat=31.23043, lon=121.47372, distance_m=3.0)
    view = alert_view(InboxItem(near), Location(31.2304, 121.4737), True, "en")
    assert view.where == "Here: less than 50 m from you" and view.direction == ""
    assert not re.search(r"\b0 m", view.why) and "less than 50 m" in view.why
    zh = alert_view(InboxItem(near), Location(31.2304, 121.4737), True, "zh")
    assert zh.where == "就在附近：离您不到 50 米"


def test_the_map_puts_both_points_stations_and_a_round_scale_bar():
    sighting, here = (31.234826, 121.469971), (31.2290, 121.4740)  # 人民广场 and 760 m S-SE
    model = sighting_map(sighting, here, "zh")
    kinds = [p.kind for p in model.points]
    assert kinds[-2:] == ["you", "sighting"]  # drawn last, on top of the stations
    assert "station" in kinds and any(p.label == "人民广场" for p in model.points)
    you, seen = model.points[-2], model.points[-1]
    assert seen.y_m > you.y_m  # north is up: the sighting lies north of the volunteer
    for p in model.points:
        assert abs(p.x_m) <= model.half_extent_m and abs(p.y_m) <= model.half_extent_m
    assert model.scale_m in (100, 200, 500, 1000) and model.scale_label.endswith("m")
    assert scale_length_m(740) == 500 and scale_length_m(1900) == 1000
    x, y = local_xy_m(31.0 + 1 / 111.2, 121.0, 31.0, 121.0)
    assert abs(x) < 1e-6 and abs(y - 1000) < 2  # one kilometre north
    alone = sighting_map(sighting, None, "en")
    assert [p.kind for p in alone.points][-1] == "sighting" and "you" not in {
        p.kind for p in alone.points
    }
