"""cuma-lite: label-free RL for small reasoning models, with CuMa's no-majority mask and curriculum.

The paper's three ideas live in three files:

- ``cuma_lite/voting.py``      -- the majority vote and its **no-majority mask**;
- ``cuma_lite/curriculum.py``  -- the **curriculum** scheduler (easy problems first);
- ``cuma_lite/data/``          -- **difficulty-controlled data** (synthetic generators, loaders).

Importing this package imports no torch, trl, vllm or unsloth: those live behind the training adapters.
"""

__version__ = "0.1.0"
