"""The generation contract over ``model.generate`` (transformers, optionally a peft model): CPU or GPU.

Batches hold about ``batch_size`` sequences (``batch_size // n`` prompts when sampling ``n`` each), left-padded.
Greedy decoding runs in order of prompt length (less padding; the answer of a prompt does not depend on its
batch-mates), sampling in the caller's order (so a seed gives the same samples whatever the batch). The model is
put in eval mode for the call and given back in the mode it was in. Log-probabilities come from
``compute_transition_scores`` over the processed scores (after temperature and top-k/top-p), which is what vLLM's
``processed_logprobs`` mode returns.

A :class:`~cuma_lite.rollout.contract.LoraHandle` is loaded once per name with ``load_adapter`` (peft's on a
``PeftModel``, transformers' on a plain model), made active for the call, and the previous state restored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cuma_lite.prompts import Prompt, render_prompts
from cuma_lite.rollout.contract import Completion, LoraHandle, OnBatch, SamplingSpec


class HFGenerator:
    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size  # sequences per generate call
        self._loaded: set[str] = set()  # adapters this generator loaded into a plain (non-peft) model

    def generate(
        self,
        prompts: Sequence[Prompt],
        spec: SamplingSpec,
        lora: LoraHandle | None = None,
        *,
        on_batch: OnBatch | None = None,
    ) -> list[list[Completion]]:
        import torch

        texts, special = render_prompts(prompts, self.tokenizer)
        if spec.greedy:  # one decode a prompt; the length order only saves padding
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            per_call = self.batch_size
        else:
            order = list(range(len(texts)))
            per_call = max(1, self.batch_size // spec.n)
        if spec.seed is not None:
            torch.manual_seed(spec.seed)
        results: list[list[Completion]] = [[] for _ in texts]
        was_training = self.model.training
        restore = self._activate(lora) if lora is not None else None
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), per_call):
                    idx = order[start : start + per_call]
                    groups = self._batch([texts[i] for i in idx], spec, special)
                    for i, group in zip(idx, groups, strict=True):
                        results[i] = group
                    if on_batch is not None:
                        on_batch(len(idx))
        finally:
            self.model.train(was_training)
            if restore is not None:
                restore()
        return results

    def _batch(self, prompts: list[str], spec: SamplingSpec, special: bool) -> list[list[Completion]]:
        from transformers import GenerationConfig

        tok = self.tokenizer
        eos = tok.eos_token_id
        sampling = (
            {} if spec.greedy else dict(temperature=spec.temperature, top_p=spec.top_p, top_k=spec.top_k)
        )
        config = GenerationConfig(
            do_sample=not spec.greedy,
            num_return_sequences=1 if spec.greedy else spec.n,  # greedy: one decode, repeated n times
            max_new_tokens=spec.max_new_tokens,
            eos_token_id=eos,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else eos,
            return_dict_in_generate=True,
            output_scores=spec.logprobs,
            **sampling,
        )
        enc = tok(
            prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=special
        ).to(self.model.device)
        gen = self.model.generate(**enc, generation_config=config)
        new = gen.sequences[:, enc["input_ids"].shape[1] :]  # [b * k, T_new]
        scores = None
        if spec.logprobs:  # [b * k, T_new]: log p(token) under the processed (sampling) distribution
            scores = self.model.compute_transition_scores(gen.sequences, gen.scores, normalize_logits=True)
        k = 1 if spec.greedy else spec.n
        rows = [
            self._completion(new[r].tolist(), scores[r] if scores is not None else None)
            for r in range(len(new))
        ]
        return [rows[i * k : (i + 1) * k] * (spec.n // k) for i in range(len(prompts))]

    def _completion(self, ids: list[int], scores: Any) -> Completion:
        eos = self.tokenizer.eos_token_id
        if eos in ids:
            ids, finish = ids[: ids.index(eos) + 1], "stop"
        else:
            finish = "length"
        logprobs = tuple(float(x) for x in scores[: len(ids)].tolist()) if scores is not None else None
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Completion(text, tuple(ids), logprobs, finish)  # type: ignore[arg-type]

    def _activate(self, lora: LoraHandle) -> Any:
        """Load (once) and activate ``lora``; returns the function that restores the previous adapter state."""
        from peft import PeftModel

        model = self.model
        if isinstance(model, PeftModel):
            previous = model.active_adapter
            if lora.name not in model.peft_config:
                model.load_adapter(lora.path, adapter_name=lora.name)
            model.set_adapter(lora.name)
            return lambda: model.set_adapter(previous)
        if getattr(model, "_hf_peft_config_loaded", False) and not self._loaded:
            raise ValueError(
                "HFGenerator: this model already carries adapters it did not load; wrap it in a peft "
                "PeftModel to switch between adapters."
            )
        if lora.name in self._loaded:
            model.enable_adapters()
        else:
            model.load_adapter(lora.path, adapter_name=lora.name)
            self._loaded.add(lora.name)
        model.set_adapter(lora.name)
        return model.disable_adapters  # the plain model generates from its base weights again
