"""What do CuMa's vote, mask and curriculum cost per GRPO step? Plain ``trl.GRPOTrainer`` vs ``cuma-lite train``.

Both run the same tiny setup in this process: the embedded tiny-math model, the same synthetic prompts, the same
GRPOConfig (built by ``cuma_lite.training.run.grpo_config``), the same seed. The baseline is what a TRL user would write for TTRL:
a reward that takes the most common extracted answer as the label (``collections.Counter``, exact string match)
over a shuffled dataset (all prompts of one difficulty level, so both sides generate alike). The cuma-lite side is the real trainer: math-aware majority vote, exact no-majority
mask, curriculum sampler, vote diagnostics, metrics.jsonl and samples.jsonl. The runs alternate (A B A B ...) to
spread machine noise; the first step of each run (warm-up) is dropped. Prints the mean step time of each and the
ratio. Target: <= 1.10.

    python scripts/bench_train_overhead.py [--steps 20] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from transformers import TrainerCallback

from cuma_lite.answers import extract_answer
from cuma_lite.backends import get_backend
from cuma_lite.config import load_config
from cuma_lite.curriculum import CurriculumScheduler
from cuma_lite.training import rundata, rundir
from cuma_lite.training.logs import JsonlLog
from cuma_lite.training.run import build_trainer, grpo_config
from cuma_lite.training.trl_compat import install_logprob_fallback


class StepTimer(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self._t = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self._t)


def ttrl_plain_reward(completions, **_):
    """TTRL as a plain TRL reward: most common extracted answer (string match) is the label; groups of G."""
    g = ttrl_plain_reward.num_generations
    answers = [extract_answer(c) for c in completions]
    rewards = []
    for k in range(0, len(answers), g):
        group = answers[k : k + g]
        parsed = [a for a in group if a is not None]
        label = Counter(parsed).most_common(1)[0][0] if parsed else None
        rewards.extend(1.0 if a is not None and a == label else 0.0 for a in group)
    return rewards


def run(kind: str, overrides: list[str], out: Path) -> list[float]:
    import trl

    cfg = load_config("tiny-cpu", [*overrides, f"train.output_dir={out}"])
    backend = get_backend(cfg)
    model, tokenizer = backend.load_policy()
    timer = StepTimer()
    data = rundata.load_run_data(cfg)
    if kind == "cuma":
        rundir.prepare_output_dir(out, cfg, resume=False, overwrite=True)
        scheduler = CurriculumScheduler(
            rundata.difficulties(data.train, cfg), cfg.curriculum, total_steps=cfg.train.max_steps, seed=0
        )
        logs = JsonlLog(out / "metrics.jsonl"), JsonlLog(out / "samples.jsonl")
        trainer = build_trainer(cfg, backend, model, tokenizer, data, scheduler, *logs)
    else:
        dataset = rundata.training_dataset(
            data.train, CurriculumScheduler([0] * len(data.train), total_steps=1, seed=0), cfg
        )
        ttrl_plain_reward.num_generations = cfg.rollout.num_generations
        args = grpo_config(
            cfg,
            backend,
            per_device=cfg.train.prompts_per_step * cfg.rollout.num_generations,
            reward_weights=[1.0],
        )
        args.shuffle_dataset = True
        args.save_strategy = "no"
        trainer = trl.GRPOTrainer(
            model=model,
            reward_funcs=[ttrl_plain_reward],
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
    trainer.add_callback(timer)
    torch.manual_seed(0)
    trainer.train()
    return timer.times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    install_logprob_fallback()
    overrides = [
        f"train.max_steps={args.steps}",
        "train.save_steps=1000",
        "eval.per_level=0",
        "vote.min_share=0.5",
        "curriculum.mode=adaptive",
        "data.synth_levels=3",  # one level: both sides draw prompts of the same length distribution
    ]
    get_backend(load_config("tiny-cpu", overrides)).activate()
    times: dict[str, list[float]] = {"trl": [], "cuma": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for kind in ("trl", "cuma"):
                step_times = run(kind, overrides, Path(tmp) / f"{kind}-{r}")
                times[kind].extend(step_times)
                print(
                    f"repeat {r} {kind:>4}: mean step {statistics.mean(step_times):.3f} s over {len(step_times)} steps"
                )
    trl_mean, cuma_mean = statistics.mean(times["trl"]), statistics.mean(times["cuma"])
    print(f"plain trl.GRPOTrainer: {trl_mean:.3f} s/step (median {statistics.median(times['trl']):.3f})")
    print(f"cuma-lite train:       {cuma_mean:.3f} s/step (median {statistics.median(times['cuma']):.3f})")
    print(
        f"ratio cuma/trl: {cuma_mean / trl_mean:.3f} (median ratio "
        f"{statistics.median(times['cuma']) / statistics.median(times['trl']):.3f}; target <= 1.10)"
    )


if __name__ == "__main__":
    main()
