"""Benchmark: what the collapse guard's drift score adds to its look at the policy, in one process.

The look (``cuma_lite/training/lookout.py``) decodes ``train.guard_prompts`` (200) prompts greedily every
``train.guard_window`` steps; the drift adds one forward pass of the completions under the start's weights (swapped
in and out). Timed here on the embedded ``tiny-math-r3`` and the synthetic training prompts of the ``tiny-cpu``
preset, alternating the two kinds of look ``--repeats`` times after one warm-up each:

    python scripts/bench_guard_look.py [--prompts 200] [--repeats 3]

It prints the median seconds of each look and their ratio (answers + drift over answers alone).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from cuma_lite.backends import get_backend
    from cuma_lite.config import load_config
    from cuma_lite.models.tiny import load_embedded
    from cuma_lite.prompts import format_prompt
    from cuma_lite.training.lookout import GreedyLook
    from cuma_lite.training.rundata import load_run_data

    cfg = load_config("tiny-cpu")
    backend = get_backend(cfg)
    model, tokenizer = load_embedded(cfg.model.name.removeprefix("embedded:"))
    train = load_run_data(cfg).train[: args.prompts]
    prompts = [format_prompt(item["problem"], cfg.model.prompt_style) for item in train]
    looks = {
        "answers": GreedyLook(backend, tokenizer, prompts, cfg.rollout.max_new_tokens, drift=False),
        "answers + drift": GreedyLook(backend, tokenizer, prompts, cfg.rollout.max_new_tokens, drift=True),
    }
    times: dict[str, list[float]] = {name: [] for name in looks}
    for look in looks.values():
        look(model)  # warm-up (and the drift's start weights)
    for _ in range(args.repeats):
        for name, look in looks.items():
            start = time.perf_counter()
            look(model)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["answers"])
    for name, ts in times.items():
        print(
            f"{name:>16}: {statistics.median(ts):6.2f} s a look (median of {len(ts)}), x{statistics.median(ts) / base:.2f}"
        )


if __name__ == "__main__":
    main()
