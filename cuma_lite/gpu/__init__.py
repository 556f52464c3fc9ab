"""GPU tooling: the memory planner (``plan``), the environment check (``doctor``) and the architecture table.

Everything here is pure Python at import time: no torch, no vLLM, no unsloth. ``doctor`` imports torch inside
its functions only, to ask about the GPU.
"""
