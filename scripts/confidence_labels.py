"""Would a label weighed by the model's confidence beat its greedy answer? An offline check, before building one.

    python scripts/confidence_labels.py --model embedded:tiny-math-r1 --data data/val.jsonl [--group 8]

Samples each prompt's greedy answer and ``--group`` completions at T = 1 with their token log-probabilities, then
prints, against the gold answers, the accuracy of labels taken from the group: the plurality; the plurality
weighted by each completion's confidence (exp of its mean token log-probability, DeepConf's signal); the plurality
of the most confident half; the single most confident completion's answer. Each is paired with the greedy answer
(the `cuma` setting's label) by a bootstrap over prompts. It also prints the within-prompt AUROC of confidence:
how often a right completion is more confident than a wrong one of the same prompt; and, for confidence used as
reward shaping on top of the greedy label (1 if a completion agrees with the greedy answer, plus ``lam`` times its
confidence's z-score in the group), the cosine of its centred advantages with the gold reward's: the direction
of its push, apart from its size (which a larger ``lam`` raises as a larger learning rate would).
docs/experiments.md has what it said on the ladder: confidence separates right from wrong, but no confident label
beats greedy, and as shaping it turns the push little towards gold's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuma_lite.answers import grade
from cuma_lite.backends.hf import load_inference_model
from cuma_lite.extraction import extract_answer
from cuma_lite.forecast import centred
from cuma_lite.models.source import resolve_source
from cuma_lite.prompts import format_prompt
from cuma_lite.rollout.contract import SamplingSpec
from cuma_lite.rollout.hf import HFGenerator
from cuma_lite.voting import equivalence_classes


def weighted_label(answers: list[str | None], weights: list[float]) -> str | None:
    """The answer whose class of equivalent answers has the most weight (ties: the class seen first)."""
    classes = equivalence_classes(answers)
    if not classes:
        return None
    best = max(classes, key=lambda c: sum(weights[i] for i in c))  # max keeps the first of equals
    return answers[best[0]]


def labels(answers: list[str | None], confidence: list[float]) -> dict[str, str | None]:
    """Each candidate label of one group; ``confidence``: each completion's mean token log-probability."""
    order = sorted(range(len(answers)), key=lambda i: -confidence[i])
    half = order[: max(1, len(answers) // 2)]
    return {
        "plurality": weighted_label(answers, [1.0] * len(answers)),
        "confidence-weighted": weighted_label(answers, [math.exp(c) for c in confidence]),
        "confident half": weighted_label([answers[i] for i in half], [1.0] * len(half)),
        "most confident": answers[order[0]],
    }


def shaped_rewards(agree: list[bool], confidence: list[float], lam: float) -> list[float]:
    """1 for agreeing with the greedy answer, plus ``lam`` times the completion's confidence z-score in its group."""
    sd = float(np.std(confidence)) or 1.0
    mean = float(np.mean(confidence))
    return [float(a) + lam * (c - mean) / sd for a, c in zip(agree, confidence, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="JSONL with problem and answer (e.g. cuma-lite data synth)")
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    lines = [line for line in Path(args.data).read_text().splitlines() if line.strip()]
    items = [json.loads(line) for line in lines[: args.limit]]
    source = resolve_source(args.model)
    style, max_new = source.generation_defaults()
    net, tokenizer = load_inference_model(source)
    generator = HFGenerator(net, tokenizer)
    prompts = [format_prompt(item["problem"], style) for item in items]
    greedy = generator.generate(prompts, SamplingSpec.greedy_spec(max_new))
    spec = SamplingSpec(n=args.group, max_new_tokens=max_new, temperature=1.0, seed=args.seed, logprobs=True)
    groups = generator.generate(prompts, spec)

    right: dict[str, list[bool]] = {"greedy": []}
    above = pairs = 0.0
    lams = (0.0, 0.25, 0.5, 1.0)
    dot = dict.fromkeys(lams, 0.0)  # per lam, summed over groups: A . A_gold and A . A
    norm = dict.fromkeys(lams, 0.0)
    gold_norm = 0.0  # A_gold . A_gold
    for item, g, group in zip(items, greedy, groups, strict=True):
        gold = str(item["answer"])
        answers = [extract_answer(c.text) for c in group]
        confidence = [sum(c.logprobs) / max(1, len(c.logprobs)) for c in group]  # type: ignore[arg-type]
        greedy_answer = extract_answer(g[0].text)
        right["greedy"].append(grade(greedy_answer, gold).correct)
        for name, label in labels(answers, confidence).items():
            right.setdefault(name, []).append(label is not None and grade(label, gold).correct)
        ok = [grade(a, gold).correct for a in answers]
        for x, rx in zip(confidence, ok, strict=True):
            for y, ry in zip(confidence, ok, strict=True):
                if rx and not ry:
                    above, pairs = above + (x > y) + 0.5 * (x == y), pairs + 1
        agree = [
            a is not None and greedy_answer is not None and grade(a, greedy_answer).correct for a in answers
        ]
        a_gold = centred([float(r) for r in ok])
        gold_norm += sum(x * x for x in a_gold)
        for lam in lams:
            a = centred(shaped_rewards(agree, confidence, lam))
            dot[lam] += sum(x * y for x, y in zip(a, a_gold, strict=True))
            norm[lam] += sum(x * x for x in a)

    rng = np.random.default_rng(args.seed)
    draws = rng.integers(0, len(items), size=(2000, len(items)))
    base = np.array(right["greedy"], dtype=float)
    print(f"{args.model}: {len(items)} prompts, G = {args.group}")
    auroc = f"{above / pairs:.3f}" if pairs else "n/a (no prompt has both right and wrong completions)"
    print(f"within-prompt AUROC of confidence: {auroc} over {int(pairs)} right/wrong pairs")
    for name, col in right.items():
        diff = np.array(col, dtype=float) - base
        lo, hi = np.quantile(diff[draws].mean(axis=1), [0.025, 0.975])
        print(
            f"  {name:20s} accuracy {np.mean(col):.3f}   - greedy {diff.mean():+.3f} ({lo:+.3f}, {hi:+.3f})"
        )
    print(
        "greedy label + lam x confidence z-score: cosine of the push with gold's (its size relative to gold's)"
    )
    for lam in lams:
        print(f"  lam {lam:<4g} cosine {dot[lam] / math.sqrt(norm[lam] * gold_norm):+.3f}"
              f" ({math.sqrt(norm[lam] / gold_norm):.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
