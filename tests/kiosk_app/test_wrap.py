"""Where ``kiosk_app.ui.wrap`` puts a hard break so no line is a lone character or starts
with closing punctuation (the laid-out lines as Kivy gives them)."""

from __future__ import annotations

from kiosk_app.ui.wrap import break_before


def test_a_lone_last_chinese_character_takes_one_more_with_it():
    text = "儿童与成人在一起，神情惊恐"
    at = break_before(text, ["儿童与成人在一起，神情惊", "恐"])
    assert text[:at] + "\n" + text[at:] == "儿童与成人在一起，神情\n惊恐"


def test_a_line_never_starts_with_a_comma_or_a_full_stop():
    text = "把这个编号告诉车站工作人员或警察，就能找到您的举报。"
    at = break_before(text, ["把这个编号告诉车站工作人员或警察", "，就能找到您的举报。"])
    assert text[at:].startswith("察，")
    text = "附近的志愿者也可能收到提醒。"
    assert text[break_before(text, ["附近的志愿者也可能收到提醒", "。"]) :] == "醒。"


def test_a_lone_tick_takes_the_whole_word_before_it():
    text = "3-5 years  ✓"
    at = break_before(text, ["3-5 years", "✓"])
    assert text[at:] == "years  ✓"


def test_good_breaks_and_asked_for_breaks_are_left_alone():
    assert (
        break_before("Step 2 of 3 — About the child", ["Step 2 of 3 —", "About the child"]) is None
    )
    assert break_before("现在有危险？\n拨打 110", ["现在有危险？", "拨打 110"]) is None
    assert break_before("一\n二", ["一", "二"]) is None
