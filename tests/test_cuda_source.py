"""The cuda backend's kernel source, read by the host's C++ compiler (tests/cuda_host_shim.cpp stubs
CUDA's qualifiers and built-ins): a machine without a GPU still catches a kernel or a shared header
that no longer compiles. (NVRTC itself compiles it where the cuda backend loads.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import fastswap

HERE = Path(__file__).resolve().parent


def _kernel_dir() -> Path | None:
    for d in (HERE.parent / "csrc", Path(fastswap.__file__).resolve().parent / "kernels"):
        if (d / "cuda_kernels.cu").is_file():
            return d
    return None


def test_cuda_kernels_compile_as_cpp(tmp_path):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler on this machine")
    kdir = _kernel_dir()
    assert kdir is not None, "cuda_kernels.cu is neither in the installed package's kernels/ nor in csrc/"
    res = subprocess.run(
        [cxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Werror", f"-I{kdir}", str(HERE / "cuda_host_shim.cpp")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-4000:]
