"""The presenters on their own: plain Python and Kivy properties, no window, no broker.
(Importing them creates no window: checked in a fresh interpreter.)"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from kiosk_app.config import ConfigError, Mode, default_config, load_config
from kiosk_app.i18n import tr
from kiosk_app.platform.language import language_tag
from kiosk_app.presenters import delivery
from kiosk_app.presenters.inbox import Upsert
from kiosk_app.presenters.notices import NoticePresenter
from kiosk_app.presenters.operator import LOCKED, NOT_PROVISIONED, WRONG_PIN, OperatorPresenter
from kiosk_app.presenters.reporting import ReportPresenter
from kiosk_app.presenters.shell import Shell, initial_language
from kiosk_app.presenters.volunteer import VolunteerPresenter, geo_uri, match_words
from kiosk_app.presenters.words import bearing_deg, compass_text, direction_text, station_name
from protocol import (
    AgeBand,
    ChildDescription,
    Colour,
    Location,
    Notice,
    NoticeBoard,
    Problem,
    Receipt,
    ReceiptStatus,
    Sex,
)
from protocol import errors as codes
from protocol.payloads import utc_now
from tests.kiosk_app.test_volunteer_ui import alert
from tests.support.services import REPO

HAN = re.compile(r"[\u4e00-\u9fff]")
APP_DIR = REPO / "kiosk_app"
KIOSK_AT = Location(31.234826, 121.469971)


def receipt(status: ReceiptStatus, report_id: str, *problems: Problem, retry: float | None = None):
    return Receipt("kiosk-SH-013", status, utc_now(), report_id, problems, retry_after_s=retry)


# ---------------------------------------------------------------------------- structure


def test_presenters_create_no_window_and_need_no_display():
    code = (
        "import sys, kiosk_app.presenters.shell, kiosk_app.presenters.reporting, "
        "kiosk_app.presenters.operator, kiosk_app.presenters.volunteer, "
        "kiosk_app.presenters.notices; "
        "assert 'kivy.core.window' not in sys.modules; print('ok')"
    )
    env = {"KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_the_app_and_the_screens_do_not_import_each_other():
    assert "kiosk_app.ui.app" not in imports_of(APP_DIR / "ui" / "screens.py")
    assert "kiosk_app.ui.screens" not in imports_of(APP_DIR / "ui" / "app.py")
    # the App module imports the screens package through kiosk_app.ui: screens only
    assert not any(
        m.startswith("kiosk_app.ui.app") for m in imports_of(APP_DIR / "ui" / "screens.py")
    )


def test_no_python_file_of_the_app_is_over_400_lines():
    long = {
        str(p.relative_to(REPO)): n
        for p in APP_DIR.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


# ---------------------------------------------------------------------------- shell, words


def test_a_kiosk_signs_in_chinese_above_english_and_a_phone_in_its_language():
    kiosk, phone = Shell("kiosk", "en"), Shell("phone", "en")
    assert kiosk.tr_main("Done", "en") == "完成" and kiosk.tr_sub("Done", "en") == "Done"
    assert phone.tr_main("Done", "en") == "Done" and phone.tr_sub("Done", "en") == ""
    zh, en = kiosk.help_text("en").split("\n")
    assert "110" in zh and HAN.search(zh) and en.startswith("In danger now? Call 110")
    assert "intercom" in en
    assert phone.help_text("zh") == "现在有危险？拨打 110 · 告诉车站工作人员"
    assert phone.toggle_language() == "zh" and phone.lang == "zh"


def test_a_phone_follows_its_system_language_a_kiosk_its_configuration():
    assert initial_language("phone", "zh", False, None, "en") == "en"
    assert initial_language("phone", "zh", True, None, "en") == "zh"  # configured
    assert initial_language("phone", "zh", False, "zh", "en") == "zh"  # chosen before
    assert initial_language("phone", "zh", False, None, "fr") == "zh"  # no catalog
    assert initial_language("kiosk", "zh", False, None, "en") == "zh"
    assert language_tag("zh_CN.UTF-8") == "zh" and language_tag("en-GB") == "en"
    assert language_tag("C.UTF-8") is None and language_tag(None) is None


def test_words_for_directions_stations_and_compass_points():
    assert direction_text("exit 2", "zh") == "2 号口"
    assert direction_text("platform 1", "en") == "Platform 1"
    assert direction_text("near the ticket machines", "zh") == "near the ticket machines"
    assert station_name("SH-013", "zh") == "人民广场"
    assert station_name("SH-013", "en") == "Renmin Square"
    assert compass_text(bearing_deg(31.0, 121.0, 31.01, 121.0), "en") == "north"
    assert compass_text(bearing_deg(31.0, 121.0, 30.99, 120.99), "zh") == "西南"


# ---------------------------------------------------------------------------- receipts


@pytest.mark.parametrize("code", sorted(codes.ALL_CODES))
def test_every_problem_code_reads_in_both_languages_with_what_to_do(code):
    refused = receipt(ReceiptStatus.REJECTED, str(uuid.uuid4()), Problem("x", code, "server words"))
    if refused.retryable:
        assert delivery.delivery_of(refused) is delivery.Delivery.RETRYING
        return
    zh = delivery.receipt_detail(refused, "zh")
    en = delivery.receipt_detail(refused, "en")
    assert HAN.search(zh) and "server words" not in zh and "server words" not in en
    assert "call 110" in en and "110" in zh


def test_a_code_this_app_does_not_know_still_reads_in_the_persons_language():
    refused = receipt(ReceiptStatus.REJECTED, str(uuid.uuid4()), Problem("x", "policy", "nope"))
    assert delivery.problem_text(refused, "zh") == "服务没有接受这条举报。"
    assert delivery.headline("rejected", "en") == "Your report did not get through"
    assert delivery.headline("delivered", "en") == "Thank you. Your report was received."


# ---------------------------------------------------------------------------- the report


def test_a_report_from_start_to_receipt():
    shell = Shell("kiosk", "zh")
    report = ReportPresenter(shell)
    report.start(case_id="case-1", case_title="Girl, 4")
    assert shell.screen == "what" and report.case_id == "case-1"
    report.choose_what("child_alone")
    assert shell.screen == "child" and report.what == "child_alone"
    report.pick_age("3-5")
    report.pick_age("3-5")  # a second tap unselects
    assert report.age == ""
    report.pick_sex("female")
    for colour in ("red", "blue", "white", "black", "green"):
        assert report.pick_colour(colour)
    assert not report.pick_colour("pink") and len(report.colours) == 5  # at most five
    report.more_details()
    report.pick_direction("exit 2")
    report.toggle_note("child_crying")
    with pytest.raises(ValueError, match="unknown observation 'typing'"):
        report.toggle_note("typing")
    built = report.build(
        device_id="kiosk-SH-013", location=KIOSK_AT, station_id="SH-013", app_version="t"
    )
    assert built.case_id == "case-1" and built.direction == "exit 2"
    assert built.free_text == "孩子在哭 / The child is crying"
    assert built.child.sex is Sex.FEMALE

    shell.connection = "offline"
    report.sent(built, online=False)
    assert shell.screen == "confirm" and report.delivery == "waiting"
    assert shell.help_urgent  # not with the response team: the help line stands out
    assert report.case_id == "" and report.flow.draft.is_empty  # nothing left for the next
    report.receipt_arrived(receipt(ReceiptStatus.ACCEPTED, built.report_id))
    assert report.delivery == "delivered" and not shell.help_urgent


def test_a_phone_keeps_a_refusal_until_the_next_report():
    shell = Shell("phone", "en")
    report = ReportPresenter(shell)
    report.start()
    report.choose_what("child_alone")
    built = report.build(
        device_id="phone-demo", location=KIOSK_AT, station_id=None, app_version="t"
    )
    report.sent(built, online=True)
    assert report.delivery == "sending"
    refused = receipt(ReceiptStatus.REJECTED, built.report_id, Problem("x", codes.FUTURE, "clock"))
    report.receipt_arrived(refused)
    assert report.delivery == "rejected" and report.rejected_receipt is refused
    shell.go("home")
    assert shell.help_urgent  # the refusal is still on the home screen
    report.start()
    assert report.rejected_receipt is None and not shell.help_urgent


# ---------------------------------------------------------------------------- operator


def test_the_operator_pin_is_per_kiosk_and_its_messages_follow_the_language():
    shell = Shell("kiosk", "zh")
    closed = OperatorPresenter(shell, None)
    closed.open()
    assert closed.message == NOT_PROVISIONED
    for digit in "2468":
        closed.press(digit)
    assert not closed.submit() and shell.screen == "pin"  # no demo PIN opens it

    panel = OperatorPresenter(shell, "739154")
    panel.open()
    for digit in "1111":
        panel.press(digit)
    assert panel.dots == "••••"
    assert not panel.submit() and panel.message == WRONG_PIN and panel.dots == ""
    assert tr(panel.message, "zh") == "密码错误" and tr(panel.message, "en") == "Wrong PIN"
    panel.submit()
    panel.submit()
    assert panel.message == LOCKED
    assert panel.gate.locked


def test_kiosk_configuration_has_no_shared_pin(tmp_path: Path):
    assert default_config(Mode.KIOSK).operator_pin == "2468"  # the built-in demo only
    ini = tmp_path / "kiosk.ini"
    ini.write_text("[device]\nmode = kiosk\n", encoding="utf-8")
    assert load_config(Mode.KIOSK, ini).operator_pin is None
    ini.write_text("[kiosk]\noperator_pin = 739154\n", encoding="utf-8")
    assert load_config(Mode.KIOSK, ini).operator_pin == "739154"
    ini.write_text("[kiosk]\noperator_pin = 12\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="operator_pin must be 4 to 12 digits"):
        load_config(Mode.KIOSK, ini)


# ---------------------------------------------------------------------------- volunteer


def test_an_alert_in_words_with_distance_direction_and_the_chosen_answer():
    shell = Shell("volunteer", "en")
    here = Location(31.2304, 121.4737, 20.0)
    vol = VolunteerPresenter(shell, lambda: here)
    vol.duty_active = True
    first = alert(str(uuid.uuid4()))
    assert vol.receive(first) is Upsert.NEW
    view = vol.focus
    assert shell.screen == "alert"
    assert view.where == "450 m north of you" and view.place == "Renmin Square"
    assert view.why == (
        "Why you get this: You are on duty, 450 m from this sighting · Strong match with the case"
    )
    assert "0.8" not in view.why + view.facts + view.headline  # words, not scores
    assert view.geo_uri.startswith("geo:31.234447,121.473700?q=31.234447,121.473700(")
    assert [r.kind for r in view.responses if r.primary] == ["on_my_way"]
    assert vol.banner.startswith("New alert") and "450 m north" in vol.banner
    shell.lang = "zh"
    assert vol.focus.where == "在你北方 450 m" and vol.focus.place == "人民广场"

    response = vol.respond(first.alert_id, "on_my_way")
    assert response.response.value == "on_my_way"
    chosen = [r for r in vol.focus.responses if r.chosen]
    assert [r.kind for r in chosen] == ["on_my_way"]
    assert not any(r.primary for r in vol.focus.responses)  # the answer is what stands out
    assert vol.focus.answered == "您的回复: 正在赶往"
    assert vol.receive(first) is Upsert.STALE  # the same revision again: ignored

    vol.duty_active = False
    vol.render()
    assert "举报时你正在值班" in vol.focus.why  # never "you are on duty" when off duty


def test_match_words_and_geo_uri():
    assert match_words(0.9) == "Strong match with the case" and match_words(None) == ""
    assert match_words(0.5) == "Possible match with the case"
    assert geo_uri(31.2, 121.4, "人民广场") == (
        "geo:31.200000,121.400000?q=31.200000,121.400000(%E4%BA%BA%E6%B0%91%E5%B9%BF%E5%9C%BA)"
    )


def test_without_a_position_the_alert_uses_the_backends_distance():
    vol = VolunteerPresenter(Shell("volunteer", "en"), lambda: None)
    vol.receive(replace(alert(str(uuid.uuid4())), distance_m=1250.0))
    assert vol.focus.where == "1.2 km away" and vol.focus.direction == ""


# ---------------------------------------------------------------------------- notices


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 40), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_notice_in_both_languages_its_photo_and_i_have_seen_this_child():
    shell = Shell("kiosk", "en")
    report = ReportPresenter(shell)
    notices = NoticePresenter(shell, report)
    notice = Notice(
        "case-7",
        "Boy, 6",
        "Blue cap.",
        "400-000-0000",
        utc_now() - timedelta(days=1),
        child=ChildDescription(AgeBand.CHILD, Sex.MALE, (Colour.BLUE,)),
    )
    notices.board_arrived(NoticeBoard((notice,), utc_now()))
    (view,) = notices.notices
    assert view.who.split("\n") == [
        "寻找走失儿童 · 年龄 6-9 岁 · 男孩 · 衣着: 蓝",
        "Missing child · Age 6-9 years · boy · Clothing: blue",
    ]
    assert view.contact.split("\n")[1] == "Volunteer relay contact: 400-000-0000"
    assert notices.photo_arrived("case-7", png()) and "case-7" in notices.photos
    assert not notices.photo_arrived("case-7", b"\x89PNG not really")
    assert "case-7" not in notices.photos
    notices.open("case-7")
    assert shell.screen == "notice"
    notices.seen_this_child()
    assert shell.screen == "what" and report.case_id == "case-7" and report.case_title == "Boy, 6"
    shell.go("notice")
    notices.board_arrived(NoticeBoard((), utc_now()))  # the case ended
    assert notices.selected is None and shell.screen == "home"


# ---------------------------------------------------------------------------- theme


def test_every_colour_pair_of_the_theme_reads_at_4_5_to_1():
    from kiosk_app.ui import theme

    low = {
        name: round(theme.contrast(fg, bg), 2)
        for name, (fg, bg) in theme.CONTRAST_PAIRS.items()
        if theme.contrast(fg, bg) < 4.5
    }
    assert not low, low
    assert round(theme.contrast(theme.BLACK, theme.WHITE), 1) == 21.0  # the formula itself
    assert round(theme.contrast((0.5, 0.5, 0.5, 1), theme.WHITE), 2) == 3.98  # #808080


def test_every_clothing_swatch_gets_readable_text():
    from kiosk_app.ui import theme
    from kiosk_app.ui.screens import COLOUR_RGBA

    for name, rgba in COLOUR_RGBA.items():
        assert theme.contrast(theme.readable_on(rgba), rgba) >= 4.5, name
