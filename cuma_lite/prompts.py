"""How a problem becomes a prompt. One function, used by training, evaluation and the tiny model's SFT alike.

- ``plain``: ``"Q: {problem}\\nA: "`` -- the format the embedded tiny model was pre-trained on; its completions
  are a short chain of thought ending in ``\\boxed{...}``.
- ``chat``: a one-turn conversation asking for step-by-step reasoning and a boxed final answer (the usual
  instruction for Qwen2.5 and the TTRL/CuMa setups); TRL applies the model's chat template.
"""

from __future__ import annotations

from typing import Literal

PromptStyle = Literal["plain", "chat"]
CHAT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def format_prompt(problem: str, style: PromptStyle = "plain") -> str | list[dict[str, str]]:
    if style == "plain":
        return f"Q: {problem}\nA: "
    if style == "chat":
        return [{"role": "user", "content": f"{problem}\n{CHAT_INSTRUCTION}"}]
    raise ValueError(f"unknown prompt style {style!r}; use 'plain' or 'chat'.")
