"""Will this run fit on this card? A GPU memory planner for label-free GRPO with 4-bit QLoRA.

``plan_config(cfg, gpu_mem_gib)`` adds up what a run of ``cfg`` holds on the GPU, term by term, from the model's
shapes (:mod:`cuma_lite.gpu.model_table`) and the run's settings, and checks it against the card. Every figure is
an estimate, not a measurement; the terms, their formulas and the assumed constants are in docs/gpu-path.md
(section 9), to be replaced by measured ones when a preset runs on hardware.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from rich.console import Console
from rich.table import Table

from cuma_lite.config import LORA_RANKS_VLLM, Config, build_config
from cuma_lite.errors import ConfigError, UserError
from cuma_lite.gpu.model_table import ModelArch, model_arch

GIB = 1024**3
BF16 = 2
NF4_BYTES = (4 + 8 / 64 + 32 / (64 * 256)) / 8  # 4-bit weight + 8-bit absmax per 64 + fp32 per 256 absmaxes
TRAINED_PARAM_BYTES = 16  # fp32 weight + fp32 grad + Adam m and v (fp32)
CUDA_CONTEXT_GIB = 0.5  # assumed
VLLM_GRAPHS_GIB = 0.4  # assumed
VLLM_PREFILL_TOKENS = 2048  # assumed chunked-prefill budget of vLLM's profiling forward
VLLM_MAX_SEQS = 256  # vLLM's default max_num_seqs: the sampler's logits are sized for it
RESERVE_GIB = 0.25
RESERVE_SHARE = 0.10
OFFLOADED_LAYERS_ON_GPU = 2  # Unsloth's offloaded checkpointing: the layer in flight and the next one
TRL_TILE_TOKENS, TRL_TILE_VOCAB = 4096, 32768  # trl/kernels/chunked_logprob.py TOKEN_CHUNK_SIZE, chunk_size
UNSLOTH_MIN_ROWS, UNSLOTH_MAX_ROWS, UNSLOTH_CHUNK_GIB = 512, 4096, 2.0  # unsloth_zoo fused_linear.py defaults
UTIL_KEY = "model.gpu_memory_utilization"
UTIL_CAP = 0.95  # the highest gpu_memory_utilization a suggestion uses (Unsloth documents 0.9-0.95)


@dataclass(frozen=True)
class Row:
    """One term of the breakdown. ``phase``: ``both`` (lives through the run), ``rollout``, ``train``."""

    term: str
    gib: float
    phase: str
    how: str


@dataclass
class MemoryPlan:
    """The planner's answer for one config on one card (all figures in GiB, estimates)."""

    cfg: Config
    arch: ModelArch
    card_gib: float
    rows: list[Row]
    rollout_gib: float
    train_gib: float
    total_gib: float
    """What the run needs at its peak: max(rollout, train) with standby or no vLLM, their union without."""
    util_min: float | None = None
    util_max: float | None = None
    kv_seqs_at_util: int | None = None
    """Sequences of S tokens vLLM's KV cache holds at the configured gpu_memory_utilization."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headroom: float = 0.0
    """Share of the card the plan keeps free (see :func:`plan_config`)."""

    @property
    def fits(self) -> bool:
        return not self.problems

    @property
    def uses_vllm(self) -> bool:
        return _uses_vllm(self.cfg)

    def table(self) -> Table:
        c = self.cfg
        title = (
            f"{self.arch.name}: {c.model.backend}{' 4-bit' if c.model.load_in_4bit else ''}, LoRA r={c.lora.r}, "
            f"{c.train.prompts_per_step} prompts x {c.rollout.num_generations} generations, "
            f"seq {c.model.max_seq_length} ({c.rollout.max_new_tokens} new), micro-batch {_micro_batch(c)} seqs"
        )
        table = Table("term", "GiB", "phase", "how", title=title, title_justify="left")
        for row in self.rows:
            table.add_row(row.term, f"{row.gib:.2f}", row.phase, row.how)
        table.add_section()
        table.add_row("rollout phase", f"{self.rollout_gib:.2f}", "rollout", "")
        table.add_row("training phase", f"{self.train_gib:.2f}", "train", "")
        table.add_row("needs (peak)", f"{self.total_gib:.2f}", "", self._peak_rule())
        return table

    def _peak_rule(self) -> str:
        if self.uses_vllm and not self.cfg.model.vllm_standby:
            return "no standby: vLLM keeps its KV cache while training, so the phases add"
        return (
            "max of the phases (vLLM standby frees the KV cache while training)"
            if self.uses_vllm
            else ("max of the phases")
        )

    def verdict(self) -> str:
        head = (
            f"{'fits' if self.fits else 'does NOT fit'}: needs {self.total_gib:.1f} GiB of a {self.card_gib:g} GiB "
            f"card (planner estimate, not a measurement)"
        )
        lines = [head]
        if self.uses_vllm and self.util_min is not None and self.util_max is not None:
            u = self.cfg.model.gpu_memory_utilization
            window = f"{self.util_min:.2f}-{self.util_max:.2f}" if self.util_min <= self.util_max else "none"
            seqs = self.kv_seqs_at_util or 0
            batch = self.cfg.train.prompts_per_step * self.cfg.rollout.num_generations
            lines.append(
                f"gpu_memory_utilization={u:g} (consistent window {window}): vLLM's KV cache holds {seqs} "
                f"sequences of {self.cfg.model.max_seq_length} tokens at once; a step generates {batch}"
            )
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def render(self, width: int = 120) -> str:
        """The breakdown and the verdict as plain text (for logs and the out-of-memory message)."""
        buf = io.StringIO()
        console = Console(file=buf, width=width, color_system=None, soft_wrap=False)
        console.print(self.table())
        console.print(self.verdict(), highlight=False)
        return buf.getvalue()

    def suggestions(self, limit: int = 3) -> list[str]:
        """Up to ``limit`` sets of ``--set key=value`` changes, cheapest first, each re-planned to fit."""
        if self.fits:
            return []
        return [
            " ".join(f"--set {k}={v}" for k, v in changes.items())
            for changes in _fitting_changes(self, limit)
        ]


# --------------------------------------------------------------------------------------------------- planning


def _floor2(x: float) -> float:
    return math.floor(x * 100 + 1e-9) / 100


def _ceil2(x: float) -> float:
    return math.ceil(x * 100 - 1e-9) / 100


def _uses_vllm(cfg: Config) -> bool:
    return cfg.model.backend == "unsloth" and cfg.model.fast_inference


def _micro_batch(cfg: Config) -> int:
    return math.ceil(
        cfg.train.prompts_per_step * cfg.rollout.num_generations / cfg.train.gradient_accumulation_steps
    )


def weight_bytes(arch: ModelArch, four_bit: bool) -> float:
    linear = arch.num_layers * arch.linear_params_per_layer()
    sixteen = arch.num_layers * arch.small_params_per_layer() + arch.embedding_params() + arch.hidden_size
    return linear * (NF4_BYTES if four_bit else BF16) + sixteen * BF16


def lora_params(arch: ModelArch, r: int, targets: list[str]) -> int:
    shapes = arch.module_shapes()
    return arch.num_layers * sum(r * (i + o) for name, (i, o) in shapes.items() if name in targets)


def kv_bytes_per_token(arch: ModelArch) -> int:
    return 2 * arch.num_layers * arch.kv_dim * BF16


def layer_activation_bytes_per_token(arch: ModelArch) -> int:
    return BF16 * (6 * arch.hidden_size + 2 * arch.kv_dim + 4 * arch.intermediate_size)


def unsloth_logprob_rows(n_tokens: int, arch: ModelArch) -> int:
    """Rows per chunk of Unsloth's fused log-prob kernel (unsloth_zoo 2026.10.9 ``fused_linear_rows``)."""
    ideal = n_tokens * arch.hidden_size / arch.vocab_size
    rows = 1 << max(math.floor(math.log2(ideal)), 0) if ideal >= 1 else 1
    rows = min(max(rows, UNSLOTH_MIN_ROWS), UNSLOTH_MAX_ROWS)
    rows = min(rows, max(int(UNSLOTH_CHUNK_GIB * GIB // (arch.vocab_size * 4)), 2))
    return max(min(rows, n_tokens), 1)


def plan_config(
    cfg: Config,
    gpu_mem_gib: float | None = None,
    *,
    arch: ModelArch | None = None,
    online: bool = True,
    headroom: float = 0.0,
) -> MemoryPlan:
    """The memory plan of ``cfg`` on a card of ``gpu_mem_gib`` GiB (None: the visible GPU, via nvidia-smi).

    ``headroom``: the share of the card to keep free (0.15 after an out-of-memory the estimate did not foresee);
    gpu_memory_utilization stays a share of the whole card."""
    if gpu_mem_gib is None:
        gpu_mem_gib = detect_gpu_mem_gib()
        if gpu_mem_gib is None:
            raise ConfigError("no GPU memory size: give the card's memory in GiB (--gpu-mem 12).")
    if gpu_mem_gib <= 0:
        raise ConfigError(f"--gpu-mem {gpu_mem_gib:g}: the card's memory must be a positive number of GiB.")
    arch = arch or model_arch(cfg.model.name, online=online)
    m, ro, tr = cfg.model, cfg.rollout, cfg.train
    p, g, c, s, ga = (
        tr.prompts_per_step,
        ro.num_generations,
        ro.max_new_tokens,
        m.max_seq_length,
        tr.gradient_accumulation_steps,
    )
    b = _micro_batch(cfg)
    n_c = b * c
    unsloth, vllm = m.backend == "unsloth", _uses_vllm(cfg)
    four_bit = m.load_in_4bit or unsloth  # the unsloth backend always loads the base in 4 bits (QLoRA)
    rows: list[Row] = []
    problems: list[str] = []
    notes: list[str] = []

    def add(term: str, nbytes: float, phase: str, how: str) -> float:
        rows.append(Row(term, nbytes / GIB, phase, how))
        return nbytes / GIB

    # -- both phases
    shared = "shared by vLLM and the trainer" if vllm else "one copy"
    w = add(
        "weights",
        weight_bytes(arch, four_bit),
        "both",
        f"{arch.total_params() / 1e9:.2f}B params, linear layers {'NF4' if four_bit else 'bf16'}, "
        f"embeddings bf16; {shared}",
    )
    if cfg.lora.r > 0:
        n_lora = lora_params(arch, cfg.lora.r, cfg.lora.target_modules)
        how = f"{n_lora / 1e6:.1f}M LoRA params x 16 B (fp32 weight, grad, Adam m, v)"
    else:
        n_lora = arch.total_params()
        how = "full fine-tune: every weight x 16 B (fp32 weight, grad, Adam m, v)"
    lora = add("LoRA + optimizer", n_lora * TRAINED_PARAM_BYTES, "both", how)
    ctx = add("CUDA context", CUDA_CONTEXT_GIB * GIB, "both", "context + cuBLAS workspaces (assumed)")
    both = w + lora + ctx

    # -- rollout
    per_tok = kv_bytes_per_token(arch)
    if vllm:
        kv = add(
            "vLLM KV cache (one group)",
            g * s * per_tok,
            "rollout",
            f"{g} seqs x {s} tokens x {per_tok / 1024:.0f} KiB/token; more sequences in flight if u allows",
        )
        runtime_bytes = (
            VLLM_GRAPHS_GIB * GIB
            + VLLM_PREFILL_TOKENS * (2 * arch.hidden_size + 3 * arch.intermediate_size) * BF16
            + 2 * min(p * g, VLLM_MAX_SEQS) * arch.vocab_size * 4
            + (lora_params(arch, cfg.lora.r, cfg.lora.target_modules) * BF16 if cfg.lora.r else 0)
        )
        runtime = add(
            "vLLM runtime",
            runtime_bytes,
            "rollout",
            "CUDA graphs (assumed 0.4) + prefill activations + sampler logits + LoRA slot",
        )
        rollout_dynamic = 0.0
        rollout = both + kv + runtime
    else:
        kv_bytes = p * g * s * per_tok + 2 * p * g * arch.vocab_size * 4
        kv = add(
            "generate KV cache",
            kv_bytes,
            "rollout",
            f"HF generate holds all {p * g} seqs x {s} tokens x {per_tok / 1024:.0f} KiB/token + sampler logits",
        )
        runtime = 0.0
        rollout_dynamic = kv
        rollout = both + kv

    # -- training
    tokens = b * s
    layer = layer_activation_bytes_per_token(arch) * tokens
    checkpoint = arch.num_layers * tokens * arch.hidden_size * BF16
    if not tr.gradient_checkpointing and not unsloth:
        act = add(
            "activations",
            arch.num_layers * layer,
            "train",
            f"no gradient checkpointing: {arch.num_layers} layers x {tokens} tokens",
        )
    else:
        if unsloth:
            on_gpu = OFFLOADED_LAYERS_ON_GPU / arch.num_layers * checkpoint
            ck_how = f"Unsloth offloads them to CPU RAM ({checkpoint / GIB:.2f} GiB there), {OFFLOADED_LAYERS_ON_GPU} layers on GPU"
        else:
            on_gpu = checkpoint
            ck_how = f"{arch.num_layers} layers x {tokens} tokens x H bf16"
        act = add("checkpointed layer inputs", on_gpu, "train", ck_how)
        act += add(
            "activations (1 layer recomputed)",
            2 * layer,
            "train",
            f"{b} seqs x {s} tokens x {layer_activation_bytes_per_token(arch) // 1024} KiB, x2 for its gradients",
        )
    if unsloth:
        r_rows = unsloth_logprob_rows(n_c, arch)
        logit_bytes = 2 * r_rows * arch.vocab_size * 4
        logit_how = f"Unsloth chunked log-probs: {r_rows} rows x {arch.vocab_size} vocab fp32, x2"
    else:
        tile_rows = min(n_c, TRL_TILE_TOKENS)
        logit_bytes = tile_rows * min(arch.vocab_size, TRL_TILE_VOCAB) * BF16
        logit_how = f"TRL fused LM head: {tile_rows} tokens x {TRL_TILE_VOCAB} vocab tile, bf16"
    logits = add("GRPO loss logits", logit_bytes, "train", logit_how)
    hidden = add(
        "completion hidden states",
        n_c * arch.hidden_size * (BF16 + 4),
        "train",
        f"{n_c} completion tokens x H, bf16 + fp32 gradient",
    )
    train_dynamic = act + logits + hidden
    reserve = add(
        "allocator reserve",
        (RESERVE_GIB + RESERVE_SHARE * max(train_dynamic, rollout_dynamic)) * GIB,
        "train",
        "0.25 GiB + 10% of the per-step tensors (fragmentation)",
    )
    train = both + train_dynamic + reserve
    total = rollout + train - both if vllm and not m.vllm_standby else max(rollout, train)

    # -- held-out evaluation (before and after training, and every eval.every steps)
    if cfg.eval.per_level and not vllm:
        e = cfg.eval.batch_size
        ev = add(
            "evaluation (HF generate)",
            e * s * per_tok + 2 * e * arch.vocab_size * 4,
            "eval",
            f"{e} greedy seqs (eval.batch_size) x {s} tokens of KV + sampler logits",
        )
        total = max(total, both + ev + RESERVE_GIB + RESERVE_SHARE * ev)
    elif cfg.eval.per_level:
        notes.append(
            "held-out evaluation generates through the shared vLLM engine: nothing beyond its KV cache."
        )

    plan = MemoryPlan(cfg, arch, gpu_mem_gib, rows, rollout, train, total, problems=problems, notes=notes)
    card, usable = gpu_mem_gib, gpu_mem_gib * (1 - headroom)
    plan.headroom = headroom
    if total > usable:
        keep = f" ({headroom:.0%} kept free: {usable:.1f} GiB usable)" if headroom else ""
        problems.append(f"needs {total:.1f} GiB but the card has {card:g} GiB{keep}.")
    if vllm:
        outside = lora + ctx + (0 if m.vllm_standby else train_dynamic + reserve)
        plan.util_min = (w + runtime + kv) / card
        plan.util_max = (usable - outside) / card
        u = m.gpu_memory_utilization
        plan.kv_seqs_at_util = max(int((u * card - w - runtime) * GIB // (s * per_tok)), 0)
        if u < plan.util_min - 1e-9:
            problems.append(
                f"model.gpu_memory_utilization={u:g} gives vLLM {u * card:.1f} GiB, but its weights, runtime and "
                f"one group's KV cache need {w + runtime + kv:.1f} GiB (use >= {_ceil2(plan.util_min):.2f})."
            )
        if u > plan.util_max + 1e-9:
            problems.append(
                f"model.gpu_memory_utilization={u:g} reserves {u * card:.1f} GiB for vLLM, leaving "
                f"{card - u * card:.1f} GiB for the {outside:.1f} GiB the trainer keeps outside it "
                f"(use <= {_floor2(plan.util_max):.2f})."
            )
    if (p * g) % ga:
        problems.append(
            f"train.prompts_per_step * rollout.num_generations = {p * g} does not split into "
            f"train.gradient_accumulation_steps={ga} equal micro-batches."
        )
    if s > arch.max_position_embeddings:
        problems.append(
            f"model.max_seq_length={s} exceeds {arch.name}'s context of {arch.max_position_embeddings} tokens."
        )
    if s - c < 64:
        notes.append(f"only {s - c} prompt tokens (model.max_seq_length - rollout.max_new_tokens).")
    if unsloth and not m.fast_inference:
        notes.append("fast_inference=false: rollouts use HF generate, without vLLM.")
    if vllm and m.vllm_standby:
        notes.append(
            f"gpu_memory_utilization={m.gpu_memory_utilization:g} takes effect as given (cuma-lite sets "
            "UNSLOTH_VLLM_STANDBY_UTIL_OVERRIDE; Standby would otherwise use a tier of the card, ~0.71-0.78 on 8-24 GB)."
        )
    return plan


# ------------------------------------------------------------------------------------------------ suggestions


def apply_overrides(cfg: Config, changes: dict[str, Any]) -> Config:
    """``cfg`` with dotted ``section.key`` changes, validated like any override."""
    raw = cfg.to_dict()
    for key, value in changes.items():
        section, _, name = key.partition(".")
        raw[section][name] = value
    return build_config(raw, where="suggestion")


def _util_fix(plan: MemoryPlan) -> float | None:
    """A gpu_memory_utilization inside the consistent window (the largest, for the most KV cache), or None."""
    if plan.util_min is None or plan.util_max is None:
        return None
    hi, lo = _floor2(min(plan.util_max, UTIL_CAP)), _ceil2(plan.util_min)
    return hi if hi >= lo and hi >= 0.05 else None


def _candidates(cfg: Config) -> Iterator[tuple[float, dict[str, Any]]]:
    """(cost, changes) over a small grid of the knobs, cost = how much the change hurts the method."""
    m, ro, tr = cfg.model, cfg.rollout, cfg.train
    c, s, g, p, r = ro.max_new_tokens, m.max_seq_length, ro.num_generations, tr.prompts_per_step, cfg.lora.r
    gens = [g] + [x for x in (6, 4) if x < g]
    lengths = sorted({c, *(int(c * f) // 64 * 64 for f in (0.75, 0.5, 0.25) if c * f >= 64)}, reverse=True)
    prompts = [p] + [p // d for d in (2, 4) if p // d >= 1 and p // d < p]
    ranks = [r, *[x for x in LORA_RANKS_VLLM if r and x < r and x >= 8][-2:][::-1]]
    for gi, ci, pi, ri in product(
        range(len(gens)), range(len(lengths)), range(len(prompts)), range(len(ranks))
    ):
        batch = prompts[pi] * gens[gi]
        for ga in sorted(
            {d for d in range(1, batch + 1) if batch % d == 0 and d >= tr.gradient_accumulation_steps}
        ):
            changes: dict[str, Any] = {}
            if gens[gi] != g:
                changes["rollout.num_generations"] = gens[gi]
            if lengths[ci] != c:
                changes["rollout.max_new_tokens"] = lengths[ci]
                changes["model.max_seq_length"] = s - (c - lengths[ci])
            if prompts[pi] != p:
                changes["train.prompts_per_step"] = prompts[pi]
            if ranks[ri] != r:
                changes["lora.r"] = ranks[ri]
                changes["lora.alpha"] = 2 * ranks[ri]
            if ga != tr.gradient_accumulation_steps:
                changes["train.gradient_accumulation_steps"] = ga
            # cheapest first: more accumulation only costs time; shorter completions cut reasoning; fewer
            # generations weaken the vote; fewer prompts slow learning; a lower rank changes the adapter
            cost = math.log2(ga / tr.gradient_accumulation_steps) * 0.5 + ci * 3 + gi * 4 + pi * 2 + ri * 2.5
            yield cost, changes


def _fitting_changes(plan: MemoryPlan, limit: int) -> list[dict[str, Any]]:
    cfg, found = plan.cfg, []
    if plan.cfg.model.max_seq_length > plan.arch.max_position_embeddings:
        cut = plan.cfg.model.max_seq_length - plan.arch.max_position_embeddings
        if plan.cfg.rollout.max_new_tokens - cut < 64:
            return []
        base = {
            "model.max_seq_length": plan.arch.max_position_embeddings,
            "rollout.max_new_tokens": plan.cfg.rollout.max_new_tokens - cut,
        }
        cfg = apply_overrides(cfg, base)
    else:
        base = {}
    for _, changes in sorted(_candidates(cfg), key=lambda t: t[0]):
        if any(set(prev) - {UTIL_KEY} <= set(base) | set(changes) for prev in found):
            continue  # a cheaper suggestion already fits by turning a subset of these knobs
        try:
            trial_cfg = apply_overrides(cfg, changes)
        except ConfigError:
            continue
        trial = plan_config(trial_cfg, plan.card_gib, arch=plan.arch, headroom=plan.headroom)
        if (
            not trial.fits
            and (u := _util_fix(trial)) is not None
            and u != trial_cfg.model.gpu_memory_utilization
        ):
            changes = {**changes, UTIL_KEY: u}
            trial = plan_config(
                apply_overrides(cfg, changes), plan.card_gib, arch=plan.arch, headroom=plan.headroom
            )
        if trial.fits:
            found.append({**base, **changes})
            if len(found) >= limit:
                break
    return found


# ------------------------------------------------------------------------------------------------- card size


def card_gib_from_name(name: str) -> float | None:
    """``0.5b-8gb`` -> 8.0: the card a preset is for, from its name (None if the name has no ``<N>gb``)."""
    m = re.search(r"(?:^|[-_/])(\d+(?:\.\d+)?)gb(?:$|[-_.])", name.lower().rsplit("/", 1)[-1])
    return float(m.group(1)) if m else None


def detect_gpu_mem_gib() -> float | None:
    """Total memory of GPU 0 from ``nvidia-smi`` (no torch import); None without one."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return float(out.splitlines()[0]) / 1024  # MiB -> GiB
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


# -------------------------------------------------------------------------------------------- out of memory


def oom_advice(cfg: Config, gpu_mem_gib: float | None) -> str:
    """What to tell a user whose run hit CUDA out-of-memory: the knobs, the planner's view, the checkpoint."""
    ro, tr, m = cfg.rollout, cfg.train, cfg.model
    knobs = [
        f"rollout.num_generations (now {ro.num_generations})",
        f"rollout.max_new_tokens (now {ro.max_new_tokens}; lower model.max_seq_length with it)",
    ]
    if _uses_vllm(cfg):
        knobs.append(f"model.gpu_memory_utilization (now {m.gpu_memory_utilization:g})")
    knobs.append(
        f"the micro-batch: raise train.gradient_accumulation_steps (now {tr.gradient_accumulation_steps}, "
        f"{_micro_batch(cfg)} sequences per micro-batch) or lower train.prompts_per_step (now {tr.prompts_per_step})"
    )
    lines = ["CUDA ran out of memory. Lower, in this order:", *(f"  - {k}" for k in knobs)]
    try:
        plan = plan_config(cfg, gpu_mem_gib, online=False)
    except UserError as e:
        lines.append(f"(no planner view: {e})")
    else:
        lines.append("The planner's view (estimates, not measurements):")
        lines.append(plan.render())
        advice = plan.suggestions()
        if plan.fits:
            # the estimate fitted but the card did not: plan against 85% of it to leave real headroom
            tighter = plan_config(cfg, plan.card_gib, arch=plan.arch, headroom=0.15)
            advice = tighter.suggestions()
            if advice:
                lines.append("It expected this to fit; settings that fit with 15% headroom:")
            elif tighter.fits:
                lines.append(
                    "It expected this to fit even with 15% headroom: another process may hold GPU memory "
                    "(check nvidia-smi), or the estimate is off for this setup; lower the knobs above one at a time."
                )
        elif advice:
            lines.append("Settings the planner expects to fit:")
        lines += [f"  {a}" for a in advice]
    lines.append(
        f"The last checkpoint in {tr.output_dir} stays usable: resume with the same command and --resume "
        "(add the --set changes above)."
    )
    return "\n".join(lines)
