from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adetailer.prompts import is_skip, pick, split_prompt


def test_blank_means_the_image_prompt():
    assert split_prompt("", "a cat") == ["a cat"]
    assert split_prompt("   ", "a cat") == ["a cat"]


def test_sep_splits_and_the_last_repeats():
    segments = split_prompt("smile [SEP] frown[SEP]angry", "main")
    assert segments == ["smile", "frown", "angry"]
    assert [pick(segments, i) for i in range(5)] == ["smile", "frown", "angry", "angry", "angry"]


def test_blank_segment_and_prompt_placeholder():
    assert split_prompt("[SEP] [PROMPT], detailed eyes", "a girl") == [
        "a girl",
        "a girl, detailed eyes",
    ]


def test_skip():
    segments = split_prompt("[SKIP] [SEP] face", "main")
    assert is_skip(pick(segments, 0))
    assert not is_skip(pick(segments, 1))
    assert not is_skip("[SKIP] but not only")


def test_replacements_apply_after_placeholders():
    assert split_prompt("[PROMPT] red", "dog", [("red", "blue"), ("dog", "cat")]) == ["cat blue"]


@given(
    st.lists(st.text(alphabet="abc ,[]", max_size=8), min_size=1, max_size=5), st.text(max_size=10)
)
def test_one_segment_per_sep(parts, main):
    box = " [SEP] ".join(parts)
    segments = split_prompt(box, main)
    assert len(segments) == box.count("[SEP]") + 1
