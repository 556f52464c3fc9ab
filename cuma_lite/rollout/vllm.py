"""The generation contract over a vLLM ``LLM`` -- plain vLLM 0.31, or Unsloth's shared ``model.vllm_engine``.

Thin on purpose: nothing here can run without a CUDA GPU, so it only builds ``SamplingParams`` and a
``LoRARequest`` and maps each ``RequestOutput`` back to :class:`~cuma_lite.rollout.contract.Completion`. The vLLM
APIs it uses, and the checks vLLM makes on them, are listed with their lines in docs/gpu-path.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cuma_lite.config import LORA_RANKS_VLLM
from cuma_lite.errors import UserError
from cuma_lite.prompts import Prompt
from cuma_lite.rollout.contract import Completion, LoraHandle, OnBatch, SamplingSpec

INSTALL_HINT = "vLLM is not installed: on a CUDA machine, pip install 'cuma-lite[gpu]' (vllm==0.31.0)."


class VLLMGenerator:
    """``llm``: a ``vllm.LLM`` (or anything with its ``generate``). ``lora_loader`` turns a handle into what
    ``lora_request=`` takes (default: a ``LoRARequest`` from the saved directory). The two classes can be injected
    (tests); otherwise vLLM is imported here, on first construction."""

    def __init__(
        self,
        llm: Any,
        *,
        max_lora_rank: int | None = None,
        lora_loader: Callable[[LoraHandle], Any] | None = None,
        sampling_params_cls: Any = None,
        lora_request_cls: Any = None,
    ) -> None:
        if sampling_params_cls is None or (lora_request_cls is None and lora_loader is None):
            try:
                from vllm import SamplingParams
                from vllm.lora.request import LoRARequest
            except ImportError:
                raise UserError(INSTALL_HINT) from None
            sampling_params_cls = sampling_params_cls or SamplingParams
            lora_request_cls = lora_request_cls or LoRARequest
        self.llm = llm
        self.max_lora_rank = max_lora_rank
        self.SamplingParams = sampling_params_cls
        self.LoRARequest = lora_request_cls
        self.lora_loader = lora_loader or self._lora_request

    @classmethod
    def from_unsloth(cls, model: Any, **kwargs: Any) -> VLLMGenerator:
        """The engine Unsloth built for ``fast_inference=True``; adapters go through its ``load_lora``
        (``unsloth_zoo/vllm_utils.py``, ``load_lora(model, save_directory, load_tensors, lora_request_id)``)."""
        engine = getattr(model, "vllm_engine", None)
        if engine is None:
            raise UserError("this model has no vLLM engine: load it with model.fast_inference=true.")
        return cls(
            engine,
            lora_loader=lambda h: model.load_lora(h.path, lora_request_id=h.int_id),
            **kwargs,
        )

    def sampling_params(self, spec: SamplingSpec) -> Any:
        """vLLM refuses greedy sampling with n > 1, so greedy asks for one completion (repeated by ``generate``)."""
        return self.SamplingParams(
            n=1 if spec.greedy else spec.n,
            temperature=spec.temperature,
            top_p=spec.top_p,
            top_k=spec.top_k,
            seed=spec.seed,
            max_tokens=spec.max_new_tokens,
            logprobs=0 if spec.logprobs else None,
        )

    def _lora_request(self, lora: LoraHandle) -> Any:
        return self.LoRARequest(lora_name=lora.name, lora_int_id=lora.int_id, lora_path=lora.path)

    def check_rank(self, lora: LoraHandle) -> None:
        if lora.rank is None:
            return
        if lora.rank not in LORA_RANKS_VLLM:
            raise UserError(f"LoRA rank {lora.rank}: vLLM serves ranks {list(LORA_RANKS_VLLM)} only.")
        if self.max_lora_rank is not None and lora.rank > self.max_lora_rank:
            raise UserError(
                f"LoRA rank {lora.rank} > the engine's max_lora_rank={self.max_lora_rank}; rebuild the engine "
                "with a larger max_lora_rank."
            )

    def generate(
        self,
        prompts: Sequence[Prompt],
        spec: SamplingSpec,
        lora: LoraHandle | None = None,
        *,
        on_batch: OnBatch | None = None,
    ) -> list[list[Completion]]:
        request = None
        if lora is not None:
            self.check_rank(lora)
            request = self.lora_loader(lora)
        texts = [p if isinstance(p, str) else self._render(p) for p in prompts]
        outputs = self.llm.generate(texts, self.sampling_params(spec), use_tqdm=False, lora_request=request)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        groups = [
            [to_completion(o, spec.logprobs) for o in sorted(r.outputs, key=lambda o: o.index)]
            for r in outputs
        ]
        if on_batch is not None and prompts:
            on_batch(len(prompts))
        return [g * spec.n if spec.greedy else g for g in groups]

    def _render(self, messages: list[dict[str, str]]) -> str:
        tokenizer = self.llm.get_tokenizer()
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def to_completion(output: Any, want_logprobs: bool) -> Completion:
    """A vLLM ``CompletionOutput`` -> :class:`Completion` (the sampled token's log-prob at each position)."""
    ids = tuple(int(t) for t in output.token_ids)
    logprobs = None
    if want_logprobs:
        if output.logprobs is None:
            raise RuntimeError("vLLM returned no logprobs although SamplingParams.logprobs was set")
        logprobs = tuple(float(pos[t].logprob) for pos, t in zip(output.logprobs, ids, strict=True))
    finish = output.finish_reason if output.finish_reason in ("stop", "length") else None
    return Completion(output.text, ids, logprobs, finish)
