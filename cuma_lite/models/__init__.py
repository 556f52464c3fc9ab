"""Model adapters. ``tiny``: the ~1M-parameter Qwen2 shipped in the package (``embedded:tiny-math``).

Importing this package imports no torch or transformers; the functions do, when called.
"""

from cuma_lite.models.tiny import EMBEDDED_MODELS, build_model, build_tokenizer, embedded_path, load_embedded

__all__ = ["EMBEDDED_MODELS", "build_model", "build_tokenizer", "embedded_path", "load_embedded"]
