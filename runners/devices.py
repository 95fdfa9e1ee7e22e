"""Provides the choice of PyTorch device shared by every training loop, and how to use it: threads, mixed precision,
backend switches."""

from __future__ import annotations

import os

import torch

from vitui.core.errors import ConfigError


def pick_device(name: str) -> torch.device:
    """auto: the GPU when there is one; a named device that is missing is a usage error."""
    mps = getattr(torch.backends, "mps", None)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available())}
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if not available[name]:
        raise ConfigError(f"device {name} is not available on this machine; use --device auto or cpu")
    return torch.device(name)


def free_cores() -> int:
    """Cores this process may run on less the work already running there (the 1-minute load average), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, round(cores - os.getloadavg()[0])))


def set_threads(requested: int) -> int:
    """Give PyTorch `requested` threads; 0 means the cores free now (OMP_NUM_THREADS, when set, decides instead).

    Not all cores: on a shared machine a thread whose core another job holds makes the others wait at every
    barrier. Measured on the shared 2-core development machine (docs/results.md): CNN-BN beside one busy process
    337 img/s with one thread, 47 with two; with both cores briefly free, 1,666 with two against 1,156 with one.
    Returns the number in use.
    """
    if requested:
        torch.set_num_threads(requested)
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(min(torch.get_num_threads(), free_cores()))
    return torch.get_num_threads()


def cpu_has_bf16() -> bool:
    """The CPU computes in bf16 natively (AVX512-BF16 or AMX), so bf16 autocast can be faster than float32."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def autocast_dtype(device: torch.device, amp: str, model_gains_on_cpu: bool) -> torch.dtype | None:
    """The autocast type of a run, or None for float32.

    amp=auto: bf16 on CUDA; on a CPU with bf16 instructions only for models that gain from it (the model table's
    cpu_bf16: the conv nets, 1.9x for CNN-BN on one thread; the ViT gained nothing clear, 0.91x to 1.13x).
    """
    if amp == "off":
        return None
    if amp == "bf16" or device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu" and model_gains_on_cpu and cpu_has_bf16():
        return torch.bfloat16
    return None


def tune_backends(device: torch.device) -> None:
    """On CUDA: let cuDNN time its convolution algorithms for the run's fixed shapes, and float32 matmuls use TF32."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
