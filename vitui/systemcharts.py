"""Provides the system tab's content without Textual: which of a run's `system/...` series each chart draws (CPU,
memory, and each GPU's utilisation, memory, power and temperature), the newest sample in one line, and the peaks a
run's samples reached."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from vitui.core.events import System
from vitui.runstate import ChartSpec, RunState, SpecSource

GIB = float(1 << 30)


def _these(*wanted: tuple[str, str, str]) -> Callable[[list[str]], list[tuple[str, str, str]]]:
    return lambda keys: [w for w in wanted if w[0] in keys]


def _each_gpu(figure: str) -> Callable[[list[str]], list[tuple[str, str, str]]]:
    """One line per GPU for one figure ("util", "mem_used", ...), GPU i in run colour i."""
    def pick(keys: list[str]) -> list[tuple[str, str, str]]:
        found = sorted((k for k in keys if k.startswith("system/gpu") and k.endswith(f"_{figure}")),
                       key=lambda k: int(k.removeprefix("system/gpu").split("_", 1)[0]))
        return [(k, k.removeprefix("system/").split("_", 1)[0], f"run{i}") for i, k in enumerate(found)]
    return pick


SYSTEM_CHARTS = [
    ChartSpec("cpu", "CPU (all cores)", _these(("system/cpu_percent", "cpu", "train")), readings="samples", unit="%",
              y_span=(0.0, 100.0)),
    ChartSpec("memory", "memory GiB", _these(("system/ram_used", "machine", "train"), ("system/rss", "worker", "val")),
              readings="samples", scale=1 / GIB),
    ChartSpec("gpu-util", "GPU utilisation", _each_gpu("util"), readings="samples", unit="%", y_span=(0.0, 100.0)),
    ChartSpec("gpu-memory", "GPU memory GiB", _each_gpu("mem_used"), readings="samples", scale=1 / GIB),
    ChartSpec("gpu-power", "GPU power W", _each_gpu("power"), readings="samples"),
    ChartSpec("gpu-temp", "GPU temperature °C", _each_gpu("temp"), readings="samples"),
]


def system_charts(run: RunState) -> list[ChartSpec]:
    """The charts a run's samples can fill: CPU and memory always, a GPU chart only for a figure some GPU reported."""
    with run.lock:
        keys = run.series_keys()
    return [spec for spec in SYSTEM_CHARTS if spec.series(keys)]


class SystemSource(SpecSource):
    """A system chart's data (the ChartSource a MetricChart reads)."""

    def empty_note(self) -> str:
        return "no samples yet: one every system_every seconds"


def system_line(sample: System) -> str:
    """The newest sample: "CPU 45%  RAM 5.1/23.5 GiB  worker 0.82 GiB  GPU0 98% 40.1/139.8 GiB 350 W 61°C"."""
    parts = [f"CPU {sample.cpu_percent:.0f}%", f"RAM {sample.ram_used / GIB:.1f}/{sample.ram_total / GIB:.1f} GiB",
             f"worker {sample.rss / GIB:.2f} GiB"]
    for gpu in sample.gpus:
        figures = [f"GPU{gpu.get('index', 0)}"]
        if gpu.get("util") is not None:
            figures.append(f"{gpu['util']:.0f}%")
        if gpu.get("mem_used") is not None and gpu.get("mem_total"):
            figures.append(f"{gpu['mem_used'] / GIB:.1f}/{gpu['mem_total'] / GIB:.1f} GiB")
        if gpu.get("power") is not None:
            figures.append(f"{gpu['power']:.0f} W")
        if gpu.get("temp") is not None:
            figures.append(f"{gpu['temp']:.0f}°C")
        parts.append(" ".join(figures))
    return "  ".join(parts)


def peaks(samples: Iterable[System]) -> dict[str, Any]:
    """The highest figures of a run's samples: {"rss": bytes, "gpus": [{index, name, mem_used, mem_total}]}, with the
    peak memory of each GPU ({} without samples)."""
    rss, gpus = None, {}
    for sample in samples:
        rss = max(rss or 0, sample.rss)
        for gpu in sample.gpus:
            used, index = gpu.get("mem_used"), gpu.get("index", 0)
            if used is not None and used >= gpus.get(index, {}).get("mem_used", -1):
                gpus[index] = {"index": index, "name": gpu.get("name"), "mem_used": used,
                               "mem_total": gpu.get("mem_total")}
    return {} if rss is None else {"rss": rss, "gpus": [gpus[i] for i in sorted(gpus)]}
