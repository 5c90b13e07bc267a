"""A case's title and description in Chinese and in English (``Notice.title_zh``...,
``Alert.case_title_zh``...): the kiosk shows the Chinese title in Chinese mode and the
English one in English mode (Chinese above English, as on the metro's signs), on the home
card and on the notice; a volunteer sees their own language's."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from kiosk_app.config import Mode
from kiosk_app.presenters.inbox import InboxItem
from kiosk_app.presenters.notices import notice_view
from kiosk_app.presenters.volunteer import alert_view
from protocol import AgeBand, ChildDescription, Colour, Location, Notice, NoticeBoard, Sex, topics
from protocol.payloads import utc_now
from tests.kiosk_app.helpers import Responder, app_config, backend_client, make_app, wait_ui
from tests.kiosk_app.test_kiosk_ui import screen, shoot_both, tap
from tests.kiosk_app.test_volunteer_ui import alert

CASE = "case-2026-002"
TITLE_ZH = "寻找 4 岁女孩，红色外套"
TITLE_EN = "Girl, 4, red coat"
DESCRIPTION_ZH = "最后出现在人民广场站 2 号口，抱着白色兔子玩具。"
DESCRIPTION_EN = "Last seen at Renmin Square station, exit 2, holding a white rabbit toy."
NOTICE = Notice(
    case_id=CASE,
    title=TITLE_ZH,  # the coordinator's own words
    description=DESCRIPTION_ZH,
    relay_contact="+86 21 5555 0100",
    since=datetime(2026, 11, 28, 9, 40, tzinfo=UTC),
    child=ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
    title_zh=TITLE_ZH,
    title_en=TITLE_EN,
    description_zh=DESCRIPTION_ZH,
    description_en=DESCRIPTION_EN,
)


def test_the_notice_reads_chinese_above_english_and_stands_in_for_a_missing_one():
    view = notice_view(NOTICE)
    assert view.title.split("\n") == [TITLE_ZH, TITLE_EN]
    assert view.description.split("\n") == [DESCRIPTION_ZH, DESCRIPTION_EN]
    only_en = replace(NOTICE, title_zh=None, description_zh=None, description_en=None)
    assert notice_view(only_en).title.split("\n") == [TITLE_ZH, TITLE_EN]  # own words above
    assert notice_view(only_en).description == DESCRIPTION_ZH
    plain = replace(NOTICE, title_zh=None, title_en=None)
    assert notice_view(plain).title == TITLE_ZH


def test_a_volunteer_reads_the_case_in_their_own_language():
    sent = replace(
        alert(str(uuid.uuid4())),
        case_title=TITLE_ZH,
        case_description=DESCRIPTION_ZH,
        case_title_zh=TITLE_ZH,
        case_title_en=TITLE_EN,
        case_description_zh=DESCRIPTION_ZH,
        case_description_en=DESCRIPTION_EN,
    )
    here = Location(31.2304, 121.4737)
    zh = alert_view(InboxItem(sent), here, True, "zh")
    en = alert_view(InboxItem(sent), here, True, "en")
    assert zh.case_title == TITLE_ZH and DESCRIPTION_ZH in zh.case_child
    assert en.case_title == TITLE_EN and DESCRIPTION_EN in en.case_child
    assert DESCRIPTION_ZH not in en.case_child
    # without a translation: the coordinator's words, in either language
    plain = replace(sent, case_title_en=None, case_description_en=None)
    assert alert_view(InboxItem(plain), here, True, "en").case_title == TITLE_ZH


def kiosk(request):
    broker = request.getfixturevalue("broker")
    responder = Responder(broker.port)
    request.addfinalizer(responder.close)
    tmp = request.getfixturevalue("tmp_path")
    return make_app(app_config(Mode.KIOSK, broker.port, tmp / "kiosk"))


@pytest.mark.ui
@pytest.mark.asyncio
@pytest.mark.parametrize("kivy_app", [[kiosk]], indirect=True)
async def test_the_kiosk_shows_the_title_of_its_language(kivy_app, broker):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    publisher = backend_client(broker.port, "notices-publisher")
    board = NoticeBoard(notices=(NOTICE,), updated_at=utc_now())
    topic = topics.device_notices(app.settings.device_id)
    publisher.publish(topic, board.to_json(), qos=1, retain=True).wait_for_publish(5)
    publisher.disconnect()
    publisher.loop_stop()
    home = screen(app, "home")
    await wait_ui(app, lambda: home.ids.notices_box.children, what="notice card")
    card = home.ids.notices_box.children[0]
    assert app.shell.lang == "zh"
    assert card.title.split("\n")[0] == TITLE_ZH  # Chinese mode: the Chinese title, on top
    await tap(app, card)
    notice = screen(app, "notice")
    assert app.root.current == "notice"
    assert notice.ids.title_label.text.split("\n")[0] == TITLE_ZH
    texts = [w.text for w in notice.walk() if hasattr(w, "text") and isinstance(w.text, str)]
    assert any(DESCRIPTION_ZH in t for t in texts)
    app.toggle_language()
    await app.wait_clock_frames(3)
    assert app.shell.lang == "en"
    assert TITLE_EN in notice.ids.title_label.text.split("\n")  # English mode: the English
    texts = [w.text for w in notice.walk() if hasattr(w, "text") and isinstance(w.text, str)]
    assert any(DESCRIPTION_EN in t for t in texts)
    app.toggle_language()
    await shoot_both(app, "notice-bilingual")
    await tap(app, notice.ids.back_button)
    assert TITLE_EN in home.ids.notices_box.children[0].title.split("\n")
