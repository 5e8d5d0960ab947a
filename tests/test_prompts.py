from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adetailer.prompts import (
    RANDOM,
    SeedTokenError,
    is_skip,
    malformed_token,
    parse_box,
    pick,
    render,
    seed_token,
    split_prompt,
)


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


# --- seed tokens -----------------------------------------------------------------------------


def _split_before_seed_tokens(box: str, main: str) -> list[str]:
    """The splitting rule as it was before seed tokens existed, for the property test below."""
    return [
        s.replace("[PROMPT]", main) if s.strip() else main for s in re.split(r"\s*\[SEP\]\s*", box)
    ]


@given(st.text(alphabet="ab ,:[]SEPDKIROM", max_size=40), st.text(max_size=8))
def test_prompts_without_seed_tokens_split_as_before(box, main):
    if "[SEP:" in box or "[SEED:" in box:
        return
    assert split_prompt(box, main) == _split_before_seed_tokens(box, main)
    assert not parse_box(box).has_seeds


def test_seed_tokens():
    box = parse_box("[SEED:12] first [SEP:R] second [SEP] third[SEP: 4294967295 ]fourth")
    assert box.texts == ("first", "second", "third", "fourth")
    assert box.seeds == (12, RANDOM, None, 4294967295)
    assert [seed_token(box, i) for i in range(6)] == [12, RANDOM, None, 4294967295, None, None]
    assert parse_box("[SEP:r] x").seeds == (None, RANDOM)
    assert parse_box("[SEED] x").texts == ("[SEED] x",)  # not a token: no value
    assert split_prompt("[SEED:3] [SEP:5] [PROMPT], eyes", "a girl") == ["a girl", "a girl, eyes"]


@pytest.mark.parametrize(
    ("box", "token"),
    [
        ("[SEP:abc] x", "[SEP:abc]"),
        ("a [SEP:] b", "[SEP:]"),
        ("a [SEP:-1] b", "[SEP:-1]"),
        ("a [SEP:4294967296] b", "[SEP:4294967296]"),
        ("a [SEP:1.5] b", "[SEP:1.5]"),
        ("[SEED:x] a", "[SEED:x]"),
        ("a [SEED:3]", "[SEED:3]"),
        ("[SEED:3][SEED:4] a", "[SEED:4]"),
        ("a [SEP] [SEED:3] b", "[SEED:3]"),
    ],
)
def test_a_malformed_token_is_named(box, token):
    error = malformed_token(box)
    assert isinstance(error, SeedTokenError)
    assert error.token == token
    assert str(error).startswith(token + " ")
    with pytest.raises(SeedTokenError):
        parse_box(box)


seed_values = st.none() | st.just(RANDOM) | st.integers(0, 2**32 - 1)
segment_texts = st.text(alphabet="ab ,[]()", max_size=8).map(str.strip)


@given(st.lists(st.tuples(segment_texts, seed_values), min_size=1, max_size=5))
def test_render_parses_back(segments):
    texts = [t for t, _ in segments]
    seeds = [s for _, s in segments]
    parsed = parse_box(render(texts, seeds))
    assert parsed.seeds == tuple(seeds)
    assert [t.strip() for t in parsed.texts] == texts
