"""A1111's prompt attention syntax and extra-network tags, read into parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adetailer.attention import Part, extract_networks, parse_attention


def weights(prompt: str) -> list[tuple[str, float]]:
    return [(p.text, round(p.weight, 6)) for p in parse_attention(prompt)]


def test_the_web_uis_examples():
    assert weights("normal text") == [("normal text", 1.0)]
    assert weights("an (important) word") == [("an ", 1.0), ("important", 1.1), (" word", 1.0)]
    assert weights("(unbalanced") == [("unbalanced", 1.1)]
    assert weights(r"\(literal\]") == [("(literal]", 1.0)]
    assert weights("(unnecessary)(parens)") == [("unnecessaryparens", 1.1)]
    # the first "(" is never closed: everything after it is weighted 1.1 as well
    assert weights("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).") == [
        ("a ", 1.0),
        ("house", round(1.3 * 1.1 * 1.1, 6)),
        (" ", 1.1),
        ("on", 1.0),
        (" a ", 1.1),
        ("hill", 0.55),
        (", sun, ", 1.1),
        ("sky", round(1.1**4, 6)),
        (".", 1.1),
    ]
    assert weights("(Emma Watson:0.8), Ana de Armas") == [
        ("Emma Watson", 0.8),
        (", Ana de Armas", 1.0),
    ]


def test_break_starts_a_chunk_and_colons_outside_weights_are_text():
    parts = parse_attention("a cat BREAK a dog: cute")
    assert parts == [Part("a cat", 1.0), Part("", 1.0, True), Part("a dog: cute", 1.0)]
    assert weights("x:1.2)") == [("x:1.2)", 1.0)]  # no open bracket: plain text


def test_an_empty_prompt_is_one_empty_part():
    assert parse_attention("") == [Part("", 1.0)]


@given(st.text(alphabet="ab ()[]:.,\\0123456789BREAK", max_size=40))
def test_any_text_parses_and_keeps_its_characters(prompt):
    parts = parse_attention(prompt)
    assert parts
    assert all(p.weight > 0 or p.is_break or p.weight <= 0 for p in parts)
    text = "".join(p.text for p in parts if not p.is_break)
    # every letter of the prompt survives, in order (brackets and weights are syntax)
    letters = [c for c in prompt.replace("BREAK", "") if c in "ab"]
    assert [c for c in text if c in "ab"] == letters


@given(st.text(alphabet="abc ,", min_size=1, max_size=20))
def test_a_weight_of_one_is_no_brackets(words):
    assert parse_attention(f"({words}:1.0)") == parse_attention(words.replace(":", ""))


def test_lora_tags_are_taken_out_with_their_weights():
    text, tags = extract_networks("a face <lora:detail:0.6>, <lora:style> smile")
    assert text == "a face , smile" or text == "a face ,  smile"
    assert [(t.kind, t.name, t.text_encoder_weight, t.unet_weight) for t in tags] == [
        ("lora", "detail", 0.6, 0.6),
        ("lora", "style", 1.0, 1.0),
    ]
    with pytest.raises(ValueError, match="must be numbers"):
        extract_networks("<lora:x:strong>")


def test_chunks_follow_the_web_ui():
    from adetailer.attention import chunk_tokens

    comma = 267
    # 80 plain tokens: 75, then 5
    chunks = chunk_tokens([(list(range(1, 81)), 1.0)], comma)
    assert [len(c.tokens) for c in chunks] == [75, 5]
    # a comma 10 tokens before the end of a full chunk: the last words move on
    tokens = [*range(1, 66), comma, *range(100, 120)]
    chunks = chunk_tokens([(tokens, 1.2)], comma)
    assert chunks[0].tokens[-1] == comma
    assert len(chunks[0].tokens) == 66
    assert chunks[1].tokens[0] == 100
    assert all(w == 1.2 for c in chunks for w in c.weights)
    # BREAK closes a chunk; an empty prompt is one empty chunk
    chunks = chunk_tokens([([1, 2], 1.0), None, ([3], 1.0)], comma)
    assert [c.tokens for c in chunks] == [[1, 2], [3]]
    assert [c.tokens for c in chunk_tokens([], comma)] == [[]]


@given(st.lists(st.integers(1, 300), max_size=400))
def test_chunks_keep_every_token_in_order(tokens):
    from adetailer.attention import chunk_tokens

    chunks = chunk_tokens([(tokens, 1.0)], comma=267)
    assert [t for c in chunks for t in c.tokens] == tokens
    assert all(len(c.tokens) <= 75 for c in chunks)
