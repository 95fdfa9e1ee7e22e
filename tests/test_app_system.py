"""The system tab and the ranks line: system events parse and fill their series, the tab appears with the first sample
and draws CPU and memory (and GPU charts only where a GPU reported), a distributed run's ranks show in the status lines,
and the runs report prints the environment, the ranks and the peak GPU memory."""

import io

from rich.console import Console
from textual.widgets import TabbedContent

from app_fakes import T0, ScriptedStarter, cnn_script, mlp_script, run_async, wait_until, widget_text, write_run
from vitui.app import make_app
from vitui.comparison import config_differences, with_env
from vitui.core import runfolder
from vitui.core.events import Ranks, System, event_from_dict
from vitui.core.experiments import resolve
from vitui.render.reports import show_run
from vitui.runstate import RunState
from vitui.screens.run import LiveRunScreen
from vitui.systemcharts import peaks, system_charts
from vitui.widgets.charts import MetricChart
from vitui.widgets.progress import status_renderable
from vitui.widgets.system import SystemPanel

GIB = 1 << 30
H200 = {"index": 0, "name": "NVIDIA H200", "util": 97.0, "mem_used": 40 * GIB, "mem_total": 141 * GIB,
        "power": 512.0, "temp": 61.0}


def samples(n: int, gpus: bool, t0: float = T0) -> list[System]:
    return [System(cpu_percent=40.0 + i, ram_used=(5 + i) * GIB, ram_total=24 * GIB, rss=GIB // 2 + i * 2**20,
                   gpus=[{**H200, "util": 90.0 + i, "mem_used": (40 + i) * GIB}] if gpus else [], t=t0 + 2 * i)
            for i in range(n)]


def interleave(script: list, extra: list) -> list:
    """`extra` spread through `script`, as a worker's sampler thread emits between the loop's events."""
    every = max(1, len(script) // (len(extra) + 1))
    out = []
    for i, event in enumerate(script):
        out.append(event)
        if i % every == every - 1 and extra:
            out.append(extra.pop(0))
    return out + extra


def test_system_events_parse_back_and_flatten_to_figures():
    sample = samples(1, gpus=True)[0]
    again = event_from_dict(sample.to_dict())
    assert again == sample
    assert again.figures() == {"cpu_percent": 40.0, "ram_used": 5.0 * GIB, "rss": float(GIB // 2),
                               "gpu0_util": 90.0, "gpu0_mem_used": 40.0 * GIB, "gpu0_power": 512.0, "gpu0_temp": 61.0}
    # A figure a GPU does not report (None) is left out rather than charted as 0.
    assert "gpu0_power" not in System(0.0, 1, 2, 3, gpus=[{**H200, "power": None}]).figures()


def test_the_charts_follow_what_the_samples_hold():
    cpu_only, with_gpu = RunState("a"), RunState("b")
    cpu_only.apply(samples(3, gpus=False))
    with_gpu.apply(samples(3, gpus=True))
    assert [s.id for s in system_charts(cpu_only)] == ["cpu", "memory"]
    assert [s.id for s in system_charts(with_gpu)] == ["cpu", "memory", "gpu-util", "gpu-memory", "gpu-power", "gpu-temp"]
    assert cpu_only.system == samples(3, gpus=False)[-1] and not cpu_only.extras  # not kept as a panel's event
    assert peaks(samples(3, gpus=True))["gpus"] == [{"index": 0, "name": "NVIDIA H200", "mem_used": 42 * GIB,
                                                    "mem_total": 141 * GIB}]
    assert peaks(samples(2, gpus=False)) == {"rss": GIB // 2 + 2**20, "gpus": []}


@run_async
async def test_the_system_tab_draws_cpu_and_memory_and_no_gpu_chart_without_a_gpu(tmp_path):
    fake = ScriptedStarter(interleave(mlp_script(), samples(6, gpus=False)))
    app = make_app(tmp_path, start_run=fake, config=resolve("mlp-mnist"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
        await wait_until(pilot, lambda: bool(app.screen.query(SystemPanel)), what="the system tab")
        tabs = app.screen.query_one(TabbedContent)
        app.screen.show_panel("system")
        await wait_until(pilot, lambda: tabs.active == "system" and app.screen.query("#system-memory"))
        panel = app.screen.query_one(SystemPanel)
        await wait_until(pilot, lambda: "RAM" in widget_text(panel.query_one("#system-now")), what="the sample line")
        charts = {c.id: c for c in panel.query(MetricChart)}
        assert set(charts) == {"system-cpu", "system-memory"}
        memory = charts["system-memory"].source.traces(60, "time", 0.0)
        assert [t.label for t in memory] == ["machine", "worker"] and memory[0].y[0] == 5.0
        assert "CPU 4" in widget_text(panel.query_one("#system-now"))
        await pilot.pause()
        assert "memory GiB" in charts["system-memory"].render().plain


@run_async
async def test_gpu_charts_and_the_ranks_line_of_a_distributed_run(tmp_path):
    ranks = [Ranks(step=10 * i, backend="nccl", world_size=2, batch_size=512, img_per_s=[20_000.0, 19_000.0 + i],
                   busy_s=[1.0, 1.05], t=T0 + 5 * i) for i in range(1, 4)]
    script = interleave(cnn_script(batchnorm=True, epochs=2), samples(4, gpus=True) + ranks)
    config = resolve("cnn-bn-cifar10", {"gpus": "2", "batch_size": "512"})
    app = make_app(tmp_path, start_run=ScriptedStarter(script), config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
        run = app.screen.run
        await wait_until(pilot, lambda: run.ranks is not None and run.ranks.step == 30, what="the ranks")
        console = Console(width=78, record=True, file=io.StringIO())
        console.print(status_renderable(run))
        fourth = console.export_text().splitlines()[3]
        assert fourth.startswith("2 ranks (nccl)  batch 512 = 2 × 256  39,003 img/s = 20,000 + 19,003")
        app.screen.show_panel("system")
        await wait_until(pilot, lambda: app.screen.query("#system-gpu-temp"), what="the GPU charts")
        charts = {c.id for c in app.screen.query_one(SystemPanel).query(MetricChart)}
        assert charts == {"system-cpu", "system-memory", "system-gpu-util", "system-gpu-memory", "system-gpu-power",
                          "system-gpu-temp"}


def test_runs_show_prints_the_environment_ranks_and_peak_gpu_memory(tmp_path):
    config = resolve("cnn-bn-cifar10", {"gpus": "2"})
    summary = {"distributed": {"world_size": 2, "backend": "nccl", "batch_size": 256, "rank_batch": 128,
                               "img_per_s": 41_000.0, "img_per_s_rank": [20_600.0, 20_400.0], "straggler": 1.02}}
    run_dir = write_run(tmp_path, "20231114-221320-cnn-bn-cifar10", config, samples(3, gpus=True), "completed", summary)
    runfolder.write_json_atomic(run_dir / runfolder.ENV, {
        "python": "3.11.7", "torch": "2.14.1+cu130", "cuda": "13.0", "cudnn": 92400, "gpus": ["NVIDIA H200"] * 2,
        "world_size": 2, "host": "gpu-box", "command": ["vitui", "run", "cnn-bn-cifar10", "--gpus", "2"],
        "git": {"commit": "19b9af5b1bfe682837f69a672d19aabc55c814c9", "dirty": True}})
    console = Console(width=120, record=True, file=io.StringIO())
    show_run(console, run_dir)
    text = console.export_text()
    for line in ("CUDA / cuDNN      13.0 / 92400", "GPUs              NVIDIA H200, NVIDIA H200",
                 "ranks             2 ranks (nccl)  batch 256 = 2 × 128  41,000 img/s = 20,600 + 20,400  straggler 1.02",
                 "host              gpu-box", "command           vitui run cnn-bn-cifar10 --gpus 2",
                 "git               19b9af5b1bfe with uncommitted changes", "peak memory       0.50 GiB in the worker",
                 "peak GPU0 memory  42.0 of 141.0 GiB (NVIDIA H200"):
        assert line in text, line


def test_the_settings_that_differ_include_the_environment(tmp_path):
    config = resolve("mlp-mnist")
    infos = []
    for i, host in enumerate(("box-a", "box-b")):
        run_dir = write_run(tmp_path, f"20231114-22132{i}-mlp-mnist", config, [], "completed")
        runfolder.write_json_atomic(run_dir / runfolder.ENV, {"host": host, "torch": "2.14.1", "world_size": 1,
                                                              "git": {"commit": "abc", "dirty": i == 1}})
        infos.append(runfolder.load_run(run_dir))
    assert config_differences([with_env(i) for i in infos]) == [("env.git", ["abc", "abc dirty"]),
                                                                ("env.host", ["box-a", "box-b"])]
