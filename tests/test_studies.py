"""Studies: a grid expanded into runs over seeds, the queue and its lock, resuming, a failing run, the table's
figures against the runs' summaries, the rule on the first two, bad input, the report's files."""

from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app_fakes import T0, write_run
from study_fakes import FinishedStarter, figure, small_study
from vitui.cli import app
from vitui.core.errors import ConfigError
from vitui.core import stops
from vitui.core.runfolder import CONFIG, load_run, write_status
from vitui.render.studies import study_state
from vitui.studies.definition import (grid_points, jobs, load_study, parse_grid, resolve_jobs, study_names, sweep,
                                      with_command_line)
from vitui.studies.folder import StudyFolder, find_study, run_mark
from vitui.studies.report import write_report
from vitui.studies.results import study_results
from vitui.studies.runner import StudyRunner, plan_slots, run_to_continue


def run_study(tmp_path: Path, study, starter: FinishedStarter, slots=(None,)) -> tuple[StudyFolder, dict]:
    folder = StudyFolder.create(tmp_path, study)
    configs = {job.index: config for job, config in resolve_jobs(study)}
    outcome = StudyRunner(folder, configs, tmp_path, None, list(slots), start_run=starter).run()
    return folder, outcome.finished


# --------------------------------------------------------------------------- expansion and the queue

def test_a_grid_expands_into_every_combination_times_every_seed():
    study = small_study(grid={"lr": [0.1, 0.3], "hidden": [16, 32, 64]}, seeds=[0, 1])
    points = grid_points(study)
    assert [p.label for p in points] == ["lr=0.1 hidden=16", "lr=0.1 hidden=32", "lr=0.1 hidden=64",
                                         "lr=0.3 hidden=16", "lr=0.3 hidden=32", "lr=0.3 hidden=64"]
    assert len(jobs(study)) == 12
    resolved = resolve_jobs(study)
    first = resolved[0][1]
    assert (first.train.lr, first.model_args.hidden, first.train.seed, first.train.iterations) == (0.1, 16, 0, 100)


def test_named_points_cross_the_grid_and_may_name_their_own_experiment():
    study = small_study(experiment="", grid={"seed_like": []}, seeds=[0])
    study.grid = {"lr": [0.01, 0.02]}
    study.set = {}
    study.points = [{"name": "rnn", "experiment": "rnn-dinos"}, {"name": "gru", "experiment": "gru-dinos"}]
    assert [p.label for p in grid_points(study)] == ["rnn lr=0.01", "rnn lr=0.02", "gru lr=0.01", "gru lr=0.02"]
    models = [config.train.model for _, config in resolve_jobs(study)]
    assert models == ["rnn-numpy", "rnn-numpy", "gru", "gru"]


def test_the_queue_runs_every_point_with_one_seed_before_the_next_seed(tmp_path):
    starter = FinishedStarter()
    run_study(tmp_path, small_study(), starter)
    assert [(c.train.lr, c.train.seed) for c in starter.started] == [(0.1, 0), (0.3, 0), (0.1, 1), (0.3, 1),
                                                                      (0.1, 2), (0.3, 2)]


def test_every_run_is_an_ordinary_run_folder_marked_with_its_study_and_place(tmp_path):
    folder, _ = run_study(tmp_path, small_study(), FinishedStarter())
    states = folder.job_states()
    assert all(s.run is not None and s.run.path.parent == tmp_path for s in states)
    mark = run_mark(states[3].run.path)
    assert (mark["study"], mark["job"], mark["label"], mark["seed"]) == (folder.id, 3, "lr=0.3", 1)


def test_running_again_resumes_and_skips_completed_runs(tmp_path):
    fails_once = {"on": True}
    first = FinishedStarter(fails=lambda c: fails_once["on"] and c.train.lr == 0.3 and c.train.seed == 1)
    folder, finished = run_study(tmp_path, small_study(), first)
    assert sorted(finished.values()) == ["completed"] * 5 + ["failed"]
    fails_once["on"] = False
    time.sleep(0.01)  # the second process begins after the first one took its runs
    second = FinishedStarter()
    _, finished = run_study(tmp_path, small_study(), second)
    assert [(c.train.lr, c.train.seed) for c in second.started] == [(0.3, 1)]  # only what did not complete
    assert all(s.done for s in folder.job_states())
    third = FinishedStarter()
    run_study(tmp_path, small_study(), third)
    assert third.started == []


def test_a_run_cut_short_continues_from_its_last_checkpoint_one_without_starts_afresh(tmp_path):
    cut = {"on": True}
    first = FinishedStarter(fails=lambda c: cut["on"] and c.train.seed == 0)
    folder, _ = run_study(tmp_path, small_study(), first)
    stopped, failed = (s.run.path for s in folder.job_states()[:2])  # lr=0.1 and lr=0.3, seed 0
    write_status(stopped, "stopped", stops.by_signal(signal.SIGTERM), started=T0, ended=T0 + 5)
    (stopped / "checkpoints").mkdir(exist_ok=True)
    (stopped / "checkpoints" / "last.pt").write_bytes(b"the whole training state")  # failed has no last.pt
    assert study_state(folder, folder.job_states()) == "incomplete"  # a stopped run is still to do
    cut["on"] = False
    time.sleep(0.01)  # the second process begins after the first one took its runs
    second = FinishedStarter()
    run_study(tmp_path, small_study(), second)
    assert [(c.train.lr, c.train.seed) for c in second.started] == [(0.1, 0), (0.3, 0)]
    assert second.resumed == [stopped]
    states = folder.job_states()
    assert states[0].run.path == stopped and states[1].run.path not in (stopped, failed)
    assert all(s.done for s in states)


def test_only_an_unfinished_run_with_a_checkpoint_of_the_same_settings_is_continued(tmp_path):
    study = small_study()
    (job, config), (_, other) = resolve_jobs(study)[:2]
    run = write_run(tmp_path, "20231114-221320-mlp-mnist", config, [], "failed", {})
    assert run_to_continue(load_run(run), config) is None  # no checkpoint
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"state")
    assert run_to_continue(load_run(run), config) == run
    assert run_to_continue(load_run(run), other) is None  # lr 0.1 there, 0.3 here
    assert run_to_continue(None, config) is None
    write_status(run, "running", host="elsewhere", time=T0)
    assert load_run(run).state == "stale" and run_to_continue(load_run(run), config) is None  # may be alive


def test_a_failing_run_is_recorded_and_the_study_goes_on(tmp_path):
    starter = FinishedStarter(fails=lambda c: c.train.lr == 0.1 and c.train.seed == 0)
    folder, finished = run_study(tmp_path, small_study(), starter)
    assert len(starter.started) == 6  # the first run failed; the five after it ran
    states = folder.job_states()
    assert [s.state for s in states] == ["failed"] + ["completed"] * 5
    assert study_state(folder, states) == "failed"
    results = study_results(folder)
    low = next(r for r in results.rows if r.point.label == "lr=0.1")
    assert (low.done, low.final.n) == (2, 2)  # the failed seed counts in neither mean nor spread


def test_two_processes_never_take_the_same_run(tmp_path):
    study = small_study(seeds=list(range(4)))
    folder = StudyFolder.create(tmp_path, study)
    taken: list[int] = []
    lock = threading.Lock()

    def start(job, previous):
        time.sleep(0.005)  # a slow spawn inside the lock: the other claimant must wait, not take it too
        path = tmp_path / f"run-{job.index}"
        with lock:
            taken.append(job.index)
        path.mkdir(exist_ok=True)
        # A run folder as a worker makes one (without its config it reads as unreadable, which a claimant that
        # began after this claim may take again), running on another host, its heart beating: not stale.
        (path / CONFIG).write_text(json.dumps({"experiment": "mlp-mnist"}))
        write_status(path, "running", host="elsewhere")
        return path

    def claimant():
        since = time.time()
        while StudyFolder(folder.path).claim(since, start) is not None:
            pass

    threads = [threading.Thread(target=claimant) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == list(range(len(jobs(study))))


def test_runs_go_one_per_gpu_or_n_at_once():
    assert plan_slots(None, {"auto"}, ["0", "1", "2"]) == ["0", "1", "2"]
    assert plan_slots(4, {"auto"}, ["0", "1"]) == ["0", "1", "0", "1"]
    assert plan_slots(None, {"cpu"}, ["0", "1"]) == [None]
    assert plan_slots(3, {"auto"}, []) == [None, None, None]
    # runs on two ranks each (--set gpus=2): two GPUs a run, so two runs at once on four GPUs
    assert plan_slots(None, {"auto"}, ["0", "1", "2", "3"], ranks=2) == ["0,1", "2,3"]
    assert plan_slots(None, {"cuda"}, ["0", "1", "2"], ranks=2) == ["0,1"]  # the third GPU would not make a group
    assert plan_slots(None, {"cuda"}, ["0"], ranks=2) == ["0"]  # too few GPUs: the run says so itself


# --------------------------------------------------------------------------- the table

def test_the_tables_figures_are_those_of_the_runs_summaries(tmp_path):
    folder, _ = run_study(tmp_path, small_study(), FinishedStarter())
    results = study_results(folder)
    assert [r.point.label for r in results.rows] == ["lr=0.3", "lr=0.1"]  # best first
    for row in results.rows:
        values = [load_run(s.run.path).summary["metrics"]["test_acc"] for s in row.jobs]
        configs = [s.run.config for s in row.jobs]
        assert values == [figure(resolve_jobs(small_study())[s.job.index][1]) for s in row.jobs]
        assert row.final.mean == pytest.approx(statistics.fmean(values))
        assert row.final.sd == pytest.approx(statistics.stdev(values))
        assert [c["seed"] for c in configs] == [0, 1, 2]
    assert results.rows[0].reference == 81.5 and results.rows[1].reference is None


def test_the_first_two_are_compared_with_the_spread_across_seeds(tmp_path):
    folder, _ = run_study(tmp_path, small_study(), FinishedStarter())
    verdict = study_results(folder).verdict()
    # means 0.81 and 0.61, each sd 0.01: a gap of 20 points against a spread of 2
    assert verdict.startswith("lr=0.3 leads lr=0.1 by 20.00 points of test_acc")
    assert "is 2.00 points: the gap exceeds the spread across seeds" in verdict

    close = small_study(name="close", grid={"lr": [0.1, 0.105]})
    folder, _ = run_study(tmp_path, close, FinishedStarter())
    assert "within the spread across seeds" in study_results(folder).verdict()

    cut = small_study(name="cut")
    folder, _ = run_study(tmp_path, cut, FinishedStarter(fails=lambda c: c.train.lr == 0.3 and c.train.seed > 0))
    assert study_results(folder).verdict().endswith("lr=0.3 has 1 completed seed: no spread across seeds to compare "
                                                    "the gap with (2 more of its 3 seeds to complete)")

    one = small_study(name="one", seeds=[0])
    folder, _ = run_study(tmp_path, one, FinishedStarter())
    assert study_results(folder).verdict().endswith("no spread across seeds to compare the gap with (run with "
                                                    "--repeat 3 or more)")


def test_a_metric_no_run_records_is_named_with_those_they_do(tmp_path):
    folder, _ = run_study(tmp_path, small_study(metric="test_acc_typo"), FinishedStarter())
    assert study_results(folder).verdict() == ("no completed run recorded test_acc_typo; their summaries have test_acc, "
                                               "time, train_acc: give one of these as the metric (--metric for a sweep)")


# --------------------------------------------------------------------------- definitions and bad input

def test_the_ready_studies_expand_and_check():
    assert {"batchnorm", "optimizers", "regularisation", "gradient-descent", "recurrent", "cnn-vs-vit"} <= set(study_names())
    for name in study_names():
        assert resolve_jobs(load_study(name))
    batchnorm = load_study("batchnorm")
    assert batchnorm.reference == {"model=cnn": 75.77, "model=cnn-bn": 79.32}
    shorter = with_command_line(batchnorm, {"epochs": "3"}, 2)
    assert len(jobs(shorter)) == 4 and shorter.id != batchnorm.id
    assert with_command_line(batchnorm, {"epochs": "3"}, 2).id == shorter.id  # the same command finds its study


@pytest.mark.parametrize("grid, message", [
    (["lrr=0.1,0.2"], "unknown setting 'lrr'"),
    (["lr=0.1,fast"], "bad value for lr: 'fast' is not a number"),
    (["lr"], "write it as key=value1,value2"),
    (["lr=0.1,"], "write it as key=value1,value2"),
])
def test_a_bad_grid_fails_before_any_run_with_one_line_and_exit_2(tmp_path, grid, message):
    args = ["sweep", "mlp-mnist", "--no-tui", "--runs-dir", str(tmp_path)]
    for pair in grid:
        args += ["--grid", pair]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vitui: error:") and message in lines[0]
    assert not list(tmp_path.iterdir())  # no study folder, no run


def test_seeds_come_from_repeat_or_the_grid_not_both():
    assert sweep("mlp-mnist", parse_grid(["seed=3,5"]), {}).seeds == [3, 5]
    assert sweep("mlp-mnist", parse_grid(["lr=0.1"]), {}, 4).seeds == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="seeds given twice"):
        sweep("mlp-mnist", parse_grid(["seed=3,5"]), {}, 2)
    with pytest.raises(ConfigError, match="varies model"):
        with_command_line(load_study("batchnorm"), {"model": "vit"}, None)


def test_print_commands_prints_one_vitui_run_line_per_run(tmp_path):
    result = CliRunner().invoke(app, ["study", "recurrent", "--repeat", "2", "--print-commands", "--runs-dir",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 6
    assert lines[0] == f"vitui run rnn-dinos --no-tui --set seed=0 --runs-dir {tmp_path}"
    assert lines[5].startswith("vitui run gru-dinos --no-tui --set seed=1")
    assert not list(tmp_path.iterdir())


def test_vitui_study_in_a_terminal_starts_the_study_unless_it_runs_already(tmp_path, monkeypatch):
    import vitui.app
    import vitui.cli.studies
    import vitui.studies.process

    started = []
    monkeypatch.setattr(vitui.cli.studies, "is_terminal", lambda *_: True)
    monkeypatch.setattr(vitui.studies.process, "start_study_process", lambda folder, *_: started.append(folder.id))
    monkeypatch.setattr(vitui.app, "run_app", lambda **_: 0)  # the dashboard would follow the study from its folder
    args = ["sweep", "mlp-mnist", "--grid", "lr=0.1,0.3", "--runs-dir", str(tmp_path)]
    assert CliRunner().invoke(app, args).exit_code == 0
    folder = find_study(tmp_path, "sweep-mlp-mnist")
    assert started == [folder.id]
    folder.add_runner()  # as the process started above would, while it runs
    try:
        assert CliRunner().invoke(app, args).exit_code == 0
        assert started == [folder.id]  # followed, not started a second time
    finally:
        folder.remove_runner()


def test_studies_list_and_show_in_json(tmp_path):
    import json

    folder, _ = run_study(tmp_path, small_study(), FinishedStarter())
    listed = json.loads(CliRunner().invoke(app, ["studies", "list", "--json", "--runs-dir", str(tmp_path)]).output)
    assert [(s["id"], s["state"], s["completed"], s["runs"]) for s in listed] == [(folder.id, "complete", 6, 6)]
    shown = json.loads(CliRunner().invoke(app, ["studies", "show", "lrs", "--json", "--runs-dir", str(tmp_path)]).output)
    assert [p["label"] for p in shown["results"]["points"]] == ["lr=0.3", "lr=0.1"]
    assert shown["results"]["points"][0]["final"]["mean"] == pytest.approx(0.81)
    assert len(shown["runs"]) == 6 and all(r["state"] == "completed" for r in shown["runs"])
    table = CliRunner().invoke(app, ["studies", "show", "lrs", "--runs-dir", str(tmp_path)], env={"COLUMNS": "120"})
    assert "81.00% ± 1.00" in table.output and "81.50%" in table.output
    assert find_study(tmp_path, folder.id).id == folder.id


# --------------------------------------------------------------------------- the report

def test_the_report_writes_markdown_and_svg_naming_every_run(tmp_path):
    folder, _ = run_study(tmp_path / "runs", small_study(), FinishedStarter())
    report = write_report(tmp_path / "out", study=folder)
    text = report.read_text()
    for state in folder.job_states():
        assert state.run.name in text
    assert "| lr=0.3 | 3/3 | 81.00% ± 1.00 |" in text and "81.50%" in text
    assert "the gap exceeds the spread across seeds" in text
    pictures = sorted(p.name for p in report.parent.glob("*.svg"))
    assert "chart-epoch-train_acc.svg" in pictures
    for name in pictures:
        assert f"]({name})" in text
        assert (report.parent / name).read_text().startswith("<svg")
    assert "Confusion matrix" in text  # the MLP runs on MNIST images


def test_the_report_of_runs_names_each_run_and_draws_the_mistakes(tmp_path):
    from app_fakes import cnn_script, write_run
    from vitui.core.events import Misclassified
    from vitui.core.experiments import resolve

    mistakes = Misclassified(step=480, class_names=["airplane", "automobile"], images=[[[[200, 10, 10]] * 4] * 4],
                             labels=[0], predictions=[1])
    runs = [write_run(tmp_path, f"20231114-22132{i}-cnn-cifar10", resolve("cnn-cifar10", {"model": model}),
                      cnn_script(batchnorm=model == "cnn-bn") + [mistakes], "completed",
                      {"best": {"name": "val_acc", "value": 0.7, "epoch": 12}, "metrics": {"val_acc": 0.7}})
            for i, model in enumerate(("cnn", "cnn-bn"))]
    report = write_report(tmp_path / "out", run_dirs=runs)
    text = report.read_text()
    assert all(run.name in text for run in runs)
    assert "| `model` | cnn | cnn-bn |" in text
    assert (tmp_path / "out" / "chart-epoch-val_acc.svg").is_file()
    assert (tmp_path / "out" / f"mistakes-{runs[1].name}.svg").is_file()


def test_each_slot_s_runs_see_only_their_own_gpu(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    seen: list[str | None] = []
    starter = FinishedStarter()

    def start_run(config, runs_dir, data_dir=None, **kwargs):
        seen.append(os.environ.get("CUDA_VISIBLE_DEVICES"))  # what a spawned worker would inherit
        handle = starter(config, runs_dir, data_dir, **kwargs)
        handle.polls_alive = 1  # still training at the first look: both slots fill before a run ends
        return handle

    study = small_study()
    folder = StudyFolder.create(tmp_path, study)
    configs = {job.index: config for job, config in resolve_jobs(study)}
    StudyRunner(folder, configs, tmp_path, None, ["3", "5"], start_run=start_run).run()
    assert seen[:2] == ["3", "5"] and len(seen) == 6 and set(seen) == {"3", "5"}
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # this process's own environment is left as it was
