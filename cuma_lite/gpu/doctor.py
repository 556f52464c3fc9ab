"""``cuma-lite doctor``: which versions are installed, what GPU this is, and which backends can run here.

Versions come from ``importlib.metadata`` only: importing unsloth to ask its version would patch TRL's trainers
globally, and importing vLLM is slow and fails without CUDA. The GPU is asked through torch
(imported inside :func:`gpu_info`, never at module import), falling back to ``nvidia-smi``.

The tested set is the one that resolves with every pin (README, Development); the GPU half (vLLM, unsloth) has not
been run on hardware yet (docs/gpu-path.md).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata

TESTED: dict[str, str] = {
    "torch": "2.13.0",
    "transformers": "5.17.0",
    "trl": "1.15.0",
    "peft": "0.21.2",
    "accelerate": "1.15.0",
    "datasets": "4.8.5",
    "bitsandbytes": "0.50.2",
    "unsloth": "2026.10.9",
    "unsloth_zoo": "2026.10.9",
    "vllm": "0.31.0",
    "vllm-bnb-plugin": "0.0.3",
}
GPU_ONLY = ("unsloth", "unsloth_zoo", "vllm", "vllm-bnb-plugin")
INSTALL_GPU = "pip install -e '.[gpu]'  (unsloth==2026.10.9, unsloth_zoo==2026.10.9, vllm==0.31.0, vllm-bnb-plugin==0.0.3)"
MIN_PYTHON = (3, 11)  # trl 1.15.0: Requires-Python >= 3.11
CUDA13_MIN_DRIVER = 580  # CUDA 13.x needs an R580 driver (>= 580.65.06 on Linux)
CUDA13_MIN_CAPABILITY = (7, 5)  # CUDA 13 builds of torch carry sm_75 and newer (Turing onwards)


@dataclass(frozen=True)
class Package:
    name: str
    installed: str | None
    tested: str

    @property
    def status(self) -> str:
        if self.installed is None:
            return "missing"
        # a local build tag (torch 2.13.0+cpu) is the same release
        return "ok" if self.installed.split("+", 1)[0] == self.tested else "differs"


@dataclass(frozen=True)
class GpuInfo:
    name: str | None
    total_gib: float | None
    free_gib: float | None
    cuda: str | None
    """CUDA version torch was built with (None for a CPU build)."""
    how: str
    driver: str | None = None
    """NVIDIA driver version (nvidia-smi), when known."""
    capability: tuple[int, int] | None = None
    """Compute capability of GPU 0, when torch sees it."""


@dataclass(frozen=True)
class Backend:
    name: str
    runs_here: bool
    why: str
    install: str


def installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def packages() -> list[Package]:
    return [Package(name, installed_version(name), tested) for name, tested in TESTED.items()]


def gpu_info() -> GpuInfo:
    """GPU 0's name and memory: torch when it has CUDA, else nvidia-smi, else none."""
    cuda = None
    if installed_version("torch") is not None:
        try:
            import torch

            cuda = torch.version.cuda
            if torch.cuda.is_available():
                free, total = torch.cuda.mem_get_info(0)
                name, capability = torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)
                return GpuInfo(
                    name, total / 1024**3, free / 1024**3, cuda, "torch", _driver(), tuple(capability)
                )
        except Exception as e:  # a broken driver must not crash the doctor; it reports what it saw
            return GpuInfo(None, None, None, cuda, f"torch could not query CUDA: {e}")
    smi = _nvidia_smi()
    if smi is not None:
        name, total, free = smi
        return GpuInfo(name, total, free, cuda, "nvidia-smi (torch sees no CUDA device)", _driver())
    build = "a CPU-only torch build" if cuda is None else f"torch built for CUDA {cuda}"
    return GpuInfo(None, None, None, cuda, f"no CUDA GPU visible ({build}, no nvidia-smi)")


def _nvidia_smi() -> tuple[str, float, float] | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()[0]
        name, total, free = (x.strip() for x in out.split(","))
        return name, float(total) / 1024, float(free) / 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _driver() -> str | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        return out.splitlines()[0].strip() or None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def cuda_problems(gpu: GpuInfo) -> list[str]:
    """What keeps torch's CUDA build from running on this GPU: the driver and the compute capability a CUDA 13
    build needs (torch 2.13.0 from PyPI is one)."""
    if gpu.cuda is None or not gpu.cuda.startswith("13"):
        return []
    problems = []
    if gpu.driver is not None:
        try:
            major = int(gpu.driver.split(".")[0])
        except ValueError:
            major = None
        if major is not None and major < CUDA13_MIN_DRIVER:
            problems.append(
                f"torch is built for CUDA {gpu.cuda}, which needs an NVIDIA driver >= {CUDA13_MIN_DRIVER} "
                f"(this one: {gpu.driver}); update the driver"
            )
    if gpu.capability is not None and tuple(gpu.capability) < CUDA13_MIN_CAPABILITY:
        got = ".".join(map(str, gpu.capability))
        problems.append(
            f"{gpu.name} has compute capability {got}; CUDA {gpu.cuda} builds of torch need >= 7.5 (Turing or newer)"
        )
    return problems


def install_problems(
    pkgs: list[Package],
    *,
    python: tuple[int, int] = (sys.version_info.major, sys.version_info.minor),
    plugins: dict[str, str] | None = None,
    vllm_plugins_env: str | None = None,
) -> list[str]:
    """The Python version, and (with vLLM installed) the bitsandbytes plugin 4-bit + vLLM needs, registered and
    allowed to load (docs/gpu-path.md, section 1)."""
    problems = []
    if python < MIN_PYTHON:
        problems.append(f"Python {python[0]}.{python[1]}: the pinned trl 1.15.0 needs Python >= 3.11")
    have = {p.name: p for p in pkgs}
    if have["vllm"].installed is not None:
        if plugins is None:
            plugins = {ep.name: ep.value for ep in metadata.entry_points(group="vllm.general_plugins")}
        if vllm_plugins_env is None:
            vllm_plugins_env = os.environ.get("VLLM_PLUGINS")
        if "bitsandbytes" not in plugins:
            problems.append(
                "vLLM's bitsandbytes plugin is not registered (4-bit + vLLM will fail): pip install vllm-bnb-plugin==0.0.3"
            )
        elif vllm_plugins_env is not None and "bitsandbytes" not in vllm_plugins_env.split(","):
            problems.append(
                f"VLLM_PLUGINS={vllm_plugins_env!r} keeps vLLM from loading bitsandbytes: add it, or unset it"
            )
    return problems


def backends(pkgs: list[Package], gpu: GpuInfo, *, install: list[str] | None = None) -> list[Backend]:
    """For each way to train: can it run on this machine, and what to install if not. ``install``: the
    :func:`install_problems` of this machine (computed when not given)."""
    have = {p.name: p for p in pkgs}
    missing_core = [
        n for n in ("torch", "transformers", "trl", "peft", "accelerate") if have[n].installed is None
    ]
    core_install = f"pip install torch==2.13.0 && pip install -e .  (missing: {', '.join(missing_core)})"
    out = [
        Backend(
            "hf",
            not missing_core,
            "transformers + peft + TRL; CPU or GPU"
            if not missing_core
            else f"missing {', '.join(missing_core)}",
            "-" if not missing_core else core_install,
        )
    ]
    bnb = have["bitsandbytes"].installed is not None
    cpu_4bit_ok = platform.machine().lower() in ("x86_64", "amd64")
    if missing_core or not bnb:
        why4 = "missing " + ", ".join([*missing_core, *([] if bnb else ["bitsandbytes"])])
        install4 = "pip install bitsandbytes==0.50.2" if not missing_core else core_install
        out.append(Backend("hf + 4-bit", False, why4, install4))
    elif gpu.name or cpu_4bit_ok:
        where = f"on {gpu.name}" if gpu.name else "on this x86-64 CPU (slow; tiny models only)"
        out.append(Backend("hf + 4-bit", True, f"bitsandbytes NF4 {where}", "-"))
    else:
        out.append(
            Backend(
                "hf + 4-bit",
                False,
                f"bitsandbytes CPU 4-bit needs x86-64, not {platform.machine()}",
                "a CUDA GPU",
            )
        )
    gpu_missing = [n for n in GPU_ONLY if have[n].installed is None]
    wrong_vllm = have["vllm"].installed not in (None,) and have["vllm"].status != "ok"
    reasons = []
    if not gpu.name:
        reasons.append("needs a CUDA GPU (none visible)")
    if gpu_missing:
        reasons.append(f"missing {', '.join(gpu_missing)}")
    if wrong_vllm:
        reasons.append(f"vllm {have['vllm'].installed} is not the tested 0.31.0")
    if missing_core:
        reasons.append(f"missing {', '.join(missing_core)}")
    reasons += cuda_problems(gpu) + (install_problems(pkgs) if install is None else install)
    install = "-"
    if gpu_missing or wrong_vllm:
        install = INSTALL_GPU
    if not gpu.name:
        install = f"a machine with an NVIDIA GPU, then {INSTALL_GPU}"
    out.append(
        Backend(
            "unsloth",
            not reasons,
            "4-bit QLoRA, vLLM rollouts sharing the weights" if not reasons else "; ".join(reasons),
            install,
        )
    )
    return out
