"""The embedded tiny model: a ~1M-parameter Qwen2 and a byte-level tokenizer with no merges.

Why this tokenizer. transformers 5 loads any ``model_type="qwen2"`` checkpoint with ``Qwen2Tokenizer`` and
rebuilds its pre-tokenizer around the saved vocabulary and merges (Qwen2's split regex, then byte-level): a BPE
trained under another pre-tokenizer reloads with *different ids and no error*. So the tokenizer is built as a
``Qwen2Tokenizer`` in the first place, with the 256-symbol byte-level alphabet as its vocabulary and **no merges**:
every byte is one token (so every digit is one token, which is what arithmetic wants), id ``b`` is byte ``b``, and
``<|endoftext|>`` (id 256) is eos and pad. The rebuild on reload is then the very same tokenizer.

Because nothing merges, ``encode(prompt + completion) == encode(prompt) + encode(completion)``: there is no token
boundary to get wrong between a prompt ending in a space and its completion.

torch and transformers are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast, Qwen2ForCausalLM

EOS_TOKEN = "<|endoftext|>"
# The yardstick's ladder, weakest first: snapshots of one SFT run on the sft split only (cuma_lite.data.splits),
# so no RL prompt, validation or test problem was ever a fine-tuning problem. Each card has its val/test accuracy.
LADDER = ("tiny-math-r1", "tiny-math-r2", "tiny-math-r3", "tiny-math-r4", "tiny-math-r5")
# The original two bases (weak, strong) come first; they were fine-tuned on problems that the RL prompts of
# `cuma-lite repro` overlap, and stay as they are because its published numbers were measured on them.
EMBEDDED_MODELS = ("tiny-math", "tiny-math-strong", *LADDER)


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable-unicode map, the alphabet of every byte-level BPE (Qwen2's included)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level ``Qwen2Tokenizer`` without merges: 257 ids (bytes 0-255, then ``<|endoftext|>``).

    It survives ``save_pretrained`` + ``AutoTokenizer.from_pretrained`` with identical ids (see the module doc).
    Padding is on the left, as batched generation needs.
    """
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    alphabet = _byte_alphabet()
    vocab = {alphabet[b]: b for b in range(256)}
    vocab[EOS_TOKEN] = 256
    return Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=None,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        padding_side="left",
        model_max_length=256,
    )


def build_model(
    vocab_size: int,
    hidden: int = 128,
    layers: int = 4,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 512,
    max_pos: int = 256,
    seed: int = 0,
    eos_token_id: int = 256,
) -> Qwen2ForCausalLM:
    """A freshly initialised Qwen2 with tied embeddings: 1.02M parameters with the defaults and 257 ids.

    The MLP width 512 (4x hidden) was measured against 352 (~8/3x, 0.77M parameters): same SFT recipe, seed 0,
    held-out accuracy 0.49 after 800 steps at 512 and 0.27 after 900 at 352 (about 12% more time a step at 512).
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_pos,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config)


def embedded_path(name: str = "tiny-math") -> Path:
    """Directory of a model shipped in the package (``cuma_lite/assets/<name>``)."""
    if name not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {name!r}; choose one of {', '.join(EMBEDDED_MODELS)}.")
    path = Path(str(resources.files("cuma_lite") / "assets" / name))
    if not (path / "config.json").is_file():
        ladder = " --ladder" if name in LADDER else ""
        raise FileNotFoundError(
            f"embedded model {name!r} is missing at {path}; rebuild it with "
            f"`python scripts/pretrain_tiny.py{ladder} --out cuma_lite/assets --seed 0`."
        )
    return path


def load_embedded(name: str = "tiny-math") -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Load a shipped model and its tokenizer with the Auto classes (fp32, eval mode)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = embedded_path(name)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer
