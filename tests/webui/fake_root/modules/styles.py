"""``modules.styles``: prompt styles; the fake keeps them in memory (``styles`` dict) instead of CSV."""

from __future__ import annotations

import typing


class PromptStyle(typing.NamedTuple):
    name: str
    prompt: str | None
    negative_prompt: str | None
    path: str | None = None


def merge_prompts(style_prompt: str, prompt: str) -> str:
    if "{prompt}" in style_prompt:
        return style_prompt.replace("{prompt}", prompt)

    return ", ".join(filter(None, (prompt.strip(), style_prompt.strip())))


def apply_styles_to_prompt(prompt: str, styles: list[str]) -> str:
    for style in styles:
        prompt = merge_prompts(style, prompt)
    return prompt


def extract_style_text_from_prompt(style_text: str, prompt: str) -> tuple[bool, str]:
    stripped_prompt = prompt.strip()
    stripped_style_text = style_text.strip()

    if "{prompt}" in stripped_style_text:
        left, _, right = stripped_style_text.partition("{prompt}")
        if stripped_prompt.startswith(left) and stripped_prompt.endswith(right):
            return True, stripped_prompt[len(left) : len(stripped_prompt) - len(right)]
    elif stripped_prompt.endswith(stripped_style_text):
        prompt = stripped_prompt[: len(stripped_prompt) - len(stripped_style_text)]
        if prompt.endswith(", "):
            prompt = prompt[:-2]
        return True, prompt

    return False, prompt


def extract_original_prompts(
    style: PromptStyle, prompt: str, negative_prompt: str
) -> tuple[bool, str, str]:
    if not style.prompt and not style.negative_prompt:
        return False, prompt, negative_prompt

    match_positive, extracted_positive = extract_style_text_from_prompt(style.prompt, prompt)
    if not match_positive:
        return False, prompt, negative_prompt

    match_negative, extracted_negative = extract_style_text_from_prompt(
        style.negative_prompt, negative_prompt
    )
    if not match_negative:
        return False, prompt, negative_prompt

    return True, extracted_positive, extracted_negative


class StyleDatabase:
    def __init__(self, paths: list[str]) -> None:
        self.no_style = PromptStyle("None", "", "", None)
        self.styles: dict[str, PromptStyle] = {}
        self.paths = paths

    def reload(self) -> None:
        self.styles.clear()

    def get_style_prompts(self, styles: list[str]) -> list[str]:
        return [self.styles.get(x, self.no_style).prompt for x in styles]

    def get_negative_style_prompts(self, styles: list[str]) -> list[str]:
        return [self.styles.get(x, self.no_style).negative_prompt for x in styles]

    def apply_styles_to_prompt(self, prompt: str, styles: list[str]) -> str:
        return apply_styles_to_prompt(
            prompt, [self.styles.get(x, self.no_style).prompt for x in styles]
        )

    def apply_negative_styles_to_prompt(self, prompt: str, styles: list[str]) -> str:
        return apply_styles_to_prompt(
            prompt, [self.styles.get(x, self.no_style).negative_prompt for x in styles]
        )

    def extract_styles_from_prompt(
        self, prompt: str, negative_prompt: str
    ) -> tuple[list[str], str, str]:
        extracted: list[str] = []
        applicable_styles = list(self.styles.values())

        while True:
            found_style = None
            for style in applicable_styles:
                is_match, new_prompt, new_neg_prompt = extract_original_prompts(
                    style, prompt, negative_prompt
                )
                if is_match:
                    found_style = style
                    prompt, negative_prompt = new_prompt, new_neg_prompt
                    break

            if not found_style:
                break

            applicable_styles.remove(found_style)
            extracted.append(found_style.name)

        return list(reversed(extracted)), prompt, negative_prompt
