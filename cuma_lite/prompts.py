"""How a problem becomes a prompt, and a prompt becomes the text a model reads. Used by training, evaluation,
difficulty estimation, data generation and the tiny model's SFT alike.

- ``plain``: ``"Q: {problem}\\nA: "`` -- the format the embedded tiny models were fine-tuned on; their completions
  are a short chain of thought ending in ``\\boxed{...}``. The tokenizer adds its special tokens.
- ``chat``: a one-turn conversation asking for step-by-step reasoning and a boxed final answer (the usual
  instruction for Qwen2.5 and the TTRL/CuMa setups), rendered with the model's chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

PromptStyle = Literal["plain", "chat"]
Prompt = str | list[dict[str, str]]
"""A plain-text prompt, or a conversation (chat messages) for the tokenizer's chat template."""
CHAT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def format_prompt(problem: str, style: PromptStyle = "plain") -> Prompt:
    if style == "plain":
        return f"Q: {problem}\nA: "
    if style == "chat":
        return [{"role": "user", "content": f"{problem}\n{CHAT_INSTRUCTION}"}]
    raise ValueError(f"unknown prompt style {style!r}; use 'plain' or 'chat'.")


def render_prompts(prompts: Sequence[Prompt], tokenizer: Any) -> tuple[list[str], bool]:
    """``(texts, add_special_tokens)``: plain prompts as they are (the tokenizer adds its special tokens), chat
    prompts through ``tokenizer.apply_chat_template`` (which wrote them already). One kind per call."""
    chat = [not isinstance(p, str) for p in prompts]
    if any(chat) and not all(chat):
        raise ValueError("render_prompts: a call mixes plain and chat prompts; give one kind at a time.")
    if not any(chat):
        return [str(p) for p in prompts], True
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    return texts, False


def prompt_token_ids(prompts: Sequence[Prompt], tokenizer: Any) -> list[list[int]]:
    """Each prompt's token ids as the generators feed them to the model (rendered by :func:`render_prompts`), so that
    ``prompt ids + completion ids`` is the sequence a completion was sampled as."""
    texts, special = render_prompts(prompts, tokenizer)
    return [tokenizer(t, add_special_tokens=special)["input_ids"] for t in texts]
