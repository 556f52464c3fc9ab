"""``cuma-lite doctor``: versions against the tested set, the GPU, and which backend can run where."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

from typer.testing import CliRunner

from cuma_lite.cli import app
from cuma_lite.gpu.doctor import (
    TESTED,
    GpuInfo,
    Package,
    backends,
    cuda_problems,
    gpu_info,
    install_problems,
    packages,
)

runner = CliRunner()
NO_GPU = GpuInfo(None, None, None, None, "no CUDA GPU visible")
A_GPU = GpuInfo("NVIDIA GeForce RTX 4090", 24.0, 23.1, "12.8", "torch")


def _pkgs(**installed: str | None) -> list[Package]:
    """The tested set, all installed at the tested versions, except what ``installed`` says."""
    return [Package(n, installed.get(n, v), v) for n, v in TESTED.items()]


def test_doctor_runs_on_this_machine_and_reports_torch():
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    text = re.sub(r"[\s│┃]+", " ", result.output)  # a wrapped cell of the last column reads on
    assert metadata.version("torch") in result.output
    for name in ("transformers", "trl", "peft", "bitsandbytes", "unsloth", "vllm"):
        assert name in result.output
    assert "hf + 4-bit" in result.output
    if (
        gpu_info().name is None
    ):  # this CPU machine: the unsloth backend cannot run, and says why and what to do
        assert "needs a CUDA GPU" in text and "to run unsloth here: a machine with an NVIDIA GPU" in text
        assert ".[gpu]" in text  # not swallowed as rich markup


def test_doctor_never_imports_unsloth_or_vllm():
    code = (
        "from typer.testing import CliRunner\nfrom cuma_lite.cli import app\nimport sys\n"
        "r = CliRunner().invoke(app, ['doctor'])\nassert r.exit_code == 0, r.output\n"
        "print('\\n'.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not {line.split(".")[0] for line in out.splitlines()} & {"unsloth", "unsloth_zoo", "vllm"}


def test_package_status():
    assert Package("torch", "2.13.0+cpu", "2.13.0").status == "ok"  # a local build tag is the same release
    assert Package("trl", "1.16.0", "1.15.0").status == "differs"
    assert Package("vllm", None, "0.31.0").status == "missing"
    assert {p.name for p in packages()} == set(TESTED)


def test_unsloth_backend_needs_gpu_unsloth_and_the_tested_vllm():
    by = {b.name: b for b in backends(_pkgs(), A_GPU, install=[])}
    assert by["unsloth"].runs_here and by["hf"].runs_here and by["hf + 4-bit"].runs_here
    assert "RTX 4090" in by["hf + 4-bit"].why

    no_gpu = {b.name: b for b in backends(_pkgs(), NO_GPU, install=[])}["unsloth"]
    assert not no_gpu.runs_here and "CUDA GPU" in no_gpu.why

    missing = {b.name: b for b in backends(_pkgs(unsloth=None, vllm=None), A_GPU, install=[])}["unsloth"]
    assert not missing.runs_here and "unsloth" in missing.why and "vllm" in missing.why
    assert "[gpu]" in missing.install and "vllm==0.31.0" in missing.install

    newer = {b.name: b for b in backends(_pkgs(vllm="0.33.0"), A_GPU, install=[])}["unsloth"]
    assert not newer.runs_here and "0.33.0" in newer.why and "0.31.0" in newer.why


def test_four_bit_needs_bitsandbytes_and_core_needs_torch():
    by = {b.name: b for b in backends(_pkgs(bitsandbytes=None), NO_GPU)}
    assert by["hf"].runs_here
    assert not by["hf + 4-bit"].runs_here and "bitsandbytes" in by["hf + 4-bit"].install
    core = {b.name: b for b in backends(_pkgs(torch=None), NO_GPU)}
    assert not core["hf"].runs_here and "torch==2.13.0" in core["hf"].install


def test_the_cuda_13_build_needs_an_r580_driver_and_turing_or_newer():
    new = GpuInfo(
        "NVIDIA GeForce RTX 4090", 24.0, 23.0, "13.0", "torch", driver="580.82.07", capability=(8, 9)
    )
    assert cuda_problems(new) == []
    old_driver = GpuInfo("RTX 4090", 24.0, 23.0, "13.0", "torch", driver="550.54.14", capability=(8, 9))
    assert "driver >= 580" in cuda_problems(old_driver)[0]
    pascal = GpuInfo("Tesla P100", 16.0, 15.0, "13.0", "torch", driver="580.82.07", capability=(6, 0))
    assert "compute capability 6.0" in cuda_problems(pascal)[0]
    assert (
        cuda_problems(GpuInfo("V100", 16.0, 15.0, "12.8", "torch", driver="550.1", capability=(7, 0))) == []
    )
    by = {b.name: b for b in backends(_pkgs(), pascal, install=[])}
    assert not by["unsloth"].runs_here and "Turing" in by["unsloth"].why


def test_python_and_the_bitsandbytes_plugin_for_vllm():
    plugin = {"bitsandbytes": "vllm_bnb_plugin:register"}
    assert install_problems(_pkgs(), python=(3, 11), plugins=plugin, vllm_plugins_env=None) == []
    assert "Python 3.10" in install_problems(_pkgs(), python=(3, 10), plugins=plugin)[0]
    assert "vllm-bnb-plugin==0.0.3" in install_problems(_pkgs(), python=(3, 11), plugins={})[0]
    assert (
        "VLLM_PLUGINS"
        in install_problems(_pkgs(), python=(3, 11), plugins=plugin, vllm_plugins_env="lora")[0]
    )
    assert install_problems(_pkgs(vllm=None), python=(3, 11), plugins={}) == []  # no vLLM: nothing to load
