"""Measure a few real GRPO steps of ``cuma-lite train`` on a borrowed GPU: step time, rollout tokens/s, peak VRAM.

The device machine has torch, transformers, peft and accelerate but no registry and no model hub, so:

- ``--wheels DIR`` (repeatable) installs the carried wheels (``scripts/gather_device_wheels.sh``: trl, datasets,
  math-verify, and bitsandbytes for the 4-bit mode) with ``pip install --no-index --no-deps`` into ``--site``, an
  ignored folder that stays on a warm machine between calls;
- the models are *randomly initialised* with the exact Qwen2.5-0.5B / 1.5B architectures (values from torchtune's
  ``torchtune/models/qwen2_5/_model_builders.py``: ``qwen2_5_0_5b`` and ``qwen2_5_1_5b_instruct``, both with tied
  embeddings), saved next to the embedded byte-level tokenizer (257 ids: they index the first rows of the
  151936-row embedding). A random model rarely emits eos, so every completion runs to ``--max-new-tokens``: the
  worst case for time and memory.

Each (architecture, mode) runs ``--steps`` steps through ``train(cfg)`` with overrides -- ``bf16-lora`` and
``4bit-lora`` (when bitsandbytes imports) on the ``hf`` backend, and ``unsloth-4bit`` on the ``unsloth`` backend when
unsloth, vLLM and vllm-bnb-plugin are installed (a user's own GPU machine: the device machine cannot carry vLLM). That
last mode exercises the GPU path's fixes: unsloth imported first, the configured vLLM utilisation, one recipe on
both backends, and the held-out evaluation through the shared engine. Then it prints one table row: mean step time (the
first step, a warm-up, left out when there are more), rollout tokens/s (completion tokens over the time spent in
TRL's ``_generate``), peak VRAM (``torch.cuda.max_memory_allocated``) and the planner's estimate when
``cuma_lite.gpu.plan.plan_config`` exists.

    python scripts/device_check.py --wheels .whl --wheels .whl-bnb --json $OUT/device_check.json
    python scripts/device_check.py --cpu-smoke        # tiny architecture, 2 steps, on CPU (tested in CI)
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

ARCHS: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": dict(hidden=896, layers=24, heads=14, kv_heads=2, intermediate=4864, vocab=151936),
    "qwen2.5-1.5b": dict(hidden=1536, layers=28, heads=12, kv_heads=2, intermediate=8960, vocab=151936),
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab=257),  # --cpu-smoke
}
PRESET = {"qwen2.5-0.5b": "0.5b-8gb", "qwen2.5-1.5b": "1.5b-12gb", "tiny": "tiny-cpu"}


def install_wheels(dirs: list[Path], site: Path) -> None:
    wheels = sorted(str(w) for d in dirs for w in d.glob("*.whl"))
    if not wheels:
        raise SystemExit(
            f"no wheels in {', '.join(map(str, dirs))}: run scripts/gather_device_wheels.sh first"
        )
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
    subprocess.run([*pip, "--no-cache-dir", "--upgrade", "--target", str(site), *wheels], check=True)


def build_model_dir(arch: str, root: Path, dtype: Any) -> Path:
    """A random-init Qwen2 of ``arch`` with the embedded byte-level tokenizer, saved to ``root/arch``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from cuma_lite.models.tiny import build_tokenizer

    a = ARCHS[arch]
    tokenizer = build_tokenizer()
    assert len(tokenizer) <= a["vocab"], "the tokenizer's ids must index the embedding"
    config = Qwen2Config(
        vocab_size=a["vocab"],
        hidden_size=a["hidden"],
        num_hidden_layers=a["layers"],
        num_attention_heads=a["heads"],
        num_key_value_heads=a["kv_heads"],
        intermediate_size=a["intermediate"],
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)
    path = root / arch
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    return path


class GenerateTimer:
    """Wall time spent in TRL's ``GRPOTrainer._generate`` (patched on the class for the run)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def install(self) -> None:
        import torch
        import trl

        original = trl.GRPOTrainer._generate

        def timed(trainer: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            out = original(trainer, *args, **kwargs)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.seconds += time.perf_counter() - start
            return out

        trl.GRPOTrainer._generate = timed
        self.restore = lambda: setattr(trl.GRPOTrainer, "_generate", original)


def run_one(arch: str, mode: str, model_dir: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from cuma_lite.config import load_config
    from cuma_lite.training.run import train

    cuda = torch.cuda.is_available()
    overrides = [
        f"model.name={model_dir}",
        f"model.backend={'unsloth' if mode == 'unsloth-4bit' else 'hf'}",
        "model.prompt_style=plain",  # the byte-level tokenizer has no chat template
        f"model.load_in_4bit={str(mode != 'bf16-lora').lower()}",
        f"model.dtype={'bfloat16' if cuda else 'float32'}",
        f"model.max_seq_length={args.max_new_tokens + 96}",
        "lora.r=16",
        "lora.alpha=32",
        f"rollout.num_generations={args.generations}",
        f"rollout.max_new_tokens={args.max_new_tokens}",
        f"train.prompts_per_step={args.prompts}",
        "train.gradient_accumulation_steps=1",
        f"train.gradient_checkpointing={str(cuda).lower()}",
        f"train.max_steps={args.steps}",
        f"train.save_steps={args.steps + 1}",
        f"train.output_dir={out}",
        "data.synth_per_level=16",
        f"eval.per_level={2 if mode == 'unsloth-4bit' else 0}",  # the evaluation through the shared engine
        "curriculum.mode=off",
    ]
    cfg = load_config(PRESET[arch], overrides)
    timer = GenerateTimer()
    timer.install()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    try:
        summary = train(cfg, overwrite=True)
    finally:
        timer.restore()
    steps = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [s for s in steps if "mask_rate" in s]
    times = [s["step_time"] for s in steps if "step_time" in s]
    timed = times[1:] if len(times) > 1 else times
    step_time = sum(timed) / len(timed) if timed else summary["train_seconds"] / max(summary["steps"], 1)
    tokens = sum(s.get("completion_length", 0.0) for s in steps) * args.prompts * args.generations
    row = {
        "arch": arch,
        "mode": mode,
        "steps": summary["steps"],
        "step_time_s": round(step_time, 3),
        "rollout_tokens_per_s": round(tokens / timer.seconds, 1) if timer.seconds else None,
        "peak_vram_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "planner_estimate": planner_estimate(cfg),
    }
    del summary
    gc.collect()
    return row


def planner_estimate(cfg: Any) -> str | None:
    """The planner's figure for this config, if the planner exists in this checkout (it is being written)."""
    try:
        from cuma_lite.gpu.plan import plan_config
    except ImportError:
        return None
    import torch

    # the card's size as the plan's denominator (8 GiB stands in on CPU); offline: the config.json is local
    card = torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else 8.0
    try:
        plan = plan_config(cfg, card, online=False)
    except Exception as e:  # the planner's API is not settled yet: report, don't fail the measurement
        return f"planner failed: {type(e).__name__}: {e}"
    for name in ("total_gib", "total_gb", "peak_gib", "peak_gb"):
        value = plan.get(name) if isinstance(plan, dict) else getattr(plan, name, None)
        if value is not None:
            return f"{value:.2f} GiB" if isinstance(value, float) else str(value)
    return str(plan)[:60]


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="cuma-lite device check (random-init weights, hf backend, LoRA r16)")
    for col in ("arch", "mode", "steps", "step time (s)", "rollout tok/s", "peak VRAM (GiB)", "planner"):
        table.add_column(col)
    for r in rows:
        values = [
            r["steps"],
            r["step_time_s"],
            r["rollout_tokens_per_s"],
            r["peak_vram_gib"],
            r["planner_estimate"],
        ]
        table.add_row(r["arch"], r["mode"], *("-" if v is None else str(v) for v in values))
    Console(width=120).print(table)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wheels", type=Path, action="append", default=[], help="a folder of carried wheels")
    p.add_argument("--site", type=Path, default=REPO / ".device-site", help="where the wheels are installed")
    p.add_argument("--install-only", action="store_true", help="install the wheels and stop")
    p.add_argument("--arch", nargs="+", default=["qwen2.5-0.5b", "qwen2.5-1.5b"], choices=sorted(ARCHS))
    p.add_argument(
        "--mode",
        nargs="+",
        default=["bf16-lora", "4bit-lora", "unsloth-4bit"],
        choices=["bf16-lora", "4bit-lora", "unsloth-4bit"],
    )
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--prompts", type=int, default=4, help="train.prompts_per_step")
    p.add_argument("--generations", type=int, default=8, help="rollout.num_generations")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--cpu-smoke", action="store_true", help="tiny architecture, 2 steps, CPU, bf16 mode only")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    if args.cpu_smoke:
        args.arch, args.mode, args.steps, args.prompts, args.generations, args.max_new_tokens = (
            ["tiny"],
            ["bf16-lora"],
            2,
            2,
            4,
            8,
        )

    if args.wheels:
        install_wheels(args.wheels, args.site)
    if args.site.is_dir():
        sys.path.insert(0, str(args.site))
    sys.path.insert(0, str(REPO))
    if args.install_only:
        import trl

        print(f"installed into {args.site}: trl {trl.__version__}")
        return 0

    import torch

    if not torch.cuda.is_available() and not args.cpu_smoke:
        raise SystemExit("no CUDA GPU here: run with --cpu-smoke, or on the device machine")
    modes = list(args.mode)
    if "4bit-lora" in modes:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            print("bitsandbytes is not installed: skipping the 4-bit mode (carry .whl-bnb)")
            modes.remove("4bit-lora")
    if "unsloth-4bit" in modes:
        import importlib.util

        missing = [m for m in ("unsloth", "vllm", "vllm_bnb_plugin") if importlib.util.find_spec(m) is None]
        if missing or not torch.cuda.is_available():
            print(
                f"skipping unsloth-4bit: {'no CUDA' if not missing else 'not installed: ' + ', '.join(missing)}"
            )
            modes.remove("unsloth-4bit")

    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    rows = []
    with tempfile.TemporaryDirectory(prefix="cuma-device-check-") as tmp:
        for arch in args.arch:
            model_dir = build_model_dir(arch, Path(tmp), dtype)
            for mode in modes:
                row = run_one(arch, mode, model_dir, Path(tmp) / f"run-{arch}-{mode}", args)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
