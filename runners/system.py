"""Provides the sampler of the machine a worker trains on: CPU, memory and the worker's own resident memory through
psutil, and each visible GPU's utilisation, memory, power and temperature through NVML (nvidia-ml-py), as `System`
events every few seconds from a background thread. Without a GPU, or without NVML, the GPU part is simply empty."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

import psutil

from vitui.core.events import System

try:  # nvidia-ml-py: a thin ctypes binding, harmless where there is no NVIDIA driver (nvmlInit then fails)
    import pynvml
except ImportError:  # pragma: no cover - installed with vitui, but a GPU panel is never worth a crash
    pynvml = None


def _visible_indices(count: int) -> list[int | str]:
    """The GPUs this process may use, as NVML indices or UUIDs: CUDA_VISIBLE_DEVICES when set (up to its first entry
    that is neither), else all of them. NVML itself ignores that variable."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    out: list[int | str] = []
    for token in (t.strip() for t in visible.split(",")):
        if token.isdigit() and int(token) < count:
            out.append(int(token))
        elif token.startswith(("GPU-", "MIG-")):
            out.append(token)
        else:
            break  # CUDA stops at the first entry it cannot read, and so do we
    return out


class GpuReader:
    """NVML handles for the visible GPUs; reads each one's figures (a figure the GPU does not report is None)."""

    def __init__(self) -> None:
        self.handles: list[tuple[int, Any]] = []
        if pynvml is None:
            return
        try:
            pynvml.nvmlInit()
            for position, which in enumerate(_visible_indices(pynvml.nvmlDeviceGetCount())):
                handle = (pynvml.nvmlDeviceGetHandleByIndex(which) if isinstance(which, int)
                          else pynvml.nvmlDeviceGetHandleByUUID(which))
                self.handles.append((position, handle))
        except pynvml.NVMLError:  # no driver, no GPU: no GPU figures
            self.handles = []

    def read(self) -> list[dict[str, Any]]:
        return [self._one(position, handle) for position, handle in self.handles]

    @staticmethod
    def _one(position: int, handle: Any) -> dict[str, Any]:
        def ask(query: Callable[[], Any]) -> Any:
            try:
                return query()
            except pynvml.NVMLError:  # e.g. NotSupported: power on some boards
                return None

        name = ask(lambda: pynvml.nvmlDeviceGetName(handle))
        memory = ask(lambda: pynvml.nvmlDeviceGetMemoryInfo(handle))
        util = ask(lambda: pynvml.nvmlDeviceGetUtilizationRates(handle))
        power = ask(lambda: pynvml.nvmlDeviceGetPowerUsage(handle))  # milliwatts
        temp = ask(lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
        return {"index": position, "name": name.decode() if isinstance(name, bytes) else name,
                "util": None if util is None else float(util.gpu),
                "mem_used": None if memory is None else int(memory.used),
                "mem_total": None if memory is None else int(memory.total),
                "power": None if power is None else power / 1000.0, "temp": None if temp is None else float(temp)}


def sample(process: psutil.Process, gpus: GpuReader) -> System:
    """One look at the machine. CPU percent is over the time since the previous call (psutil keeps the last reading)."""
    memory = psutil.virtual_memory()
    return System(cpu_percent=psutil.cpu_percent(interval=None), ram_used=int(memory.total - memory.available),
                  ram_total=int(memory.total), rss=int(process.memory_info().rss), gpus=gpus.read())


class SystemSampler:
    """Emits a System event every `every` seconds from a daemon thread, and one more when stopped (so a run shorter
    than the interval still has one). A failed sample is skipped: watching the machine must never end a run."""

    def __init__(self, emit: Callable[[System], None], every: float):
        self.emit, self.every = emit, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="sample-system", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        process, gpus = psutil.Process(), GpuReader()
        psutil.cpu_percent(interval=None)  # the first reading says nothing: it starts the interval
        while True:
            stopping = self._stop.wait(self.every)
            try:
                self.emit(sample(process, gpus))
            except (psutil.Error, OSError, ValueError):
                pass
            if stopping:
                return
