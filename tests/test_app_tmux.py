"""Real-terminal tests in tmux: start `vitui`, launch a small real run, read the screen, quit, check the terminal.

The run is the real NumPy MLP trainer in a real worker process, on a small MNIST-format data set this test
writes (so it needs no downloaded data): the point here is the terminal, not the accuracy.
"""

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import require, shared_data
from real_runs import EXTRA_TABS, tiny_overrides
from vitui.core.runfolder import read_events

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

ROOT = Path(__file__).resolve().parent.parent
BRAILLE = re.compile("[\u2801-\u28ff]")


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file as MNIST ships them: zero, zero, type 0x08 (bytes), dims, big-endian sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def make_digits(folder: Path, train: int = 2000, test: int = 200) -> None:
    """Ten classes of 28x28 images, each a bright square in its own place plus noise: learnable in seconds."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, n in (("train", train), ("t10k", test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, c in enumerate(labels):
            r, k = divmod(int(c), 5)
            images[i, 4 + 12 * r: 12 + 12 * r, 1 + 5 * k: 6 + 5 * k] += 180
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


class Tmux:
    """One detached tmux session running a shell, on a tmux server of its own, read with capture-pane."""

    def __init__(self, name: str, env: dict[str, str], width: int = 80, height: int = 24):
        self.name = name
        self.tmux = ["tmux", "-L", name]  # a private socket: nothing here touches anyone else's sessions
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        subprocess.run([*self.tmux, "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                        f"env {exports} bash --norc --noprofile"], check=True)

    def send(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name], check=True, capture_output=True,
                              text=True).stdout

    def flag(self, name: str) -> str:
        return subprocess.run([*self.tmux, "display-message", "-p", "-t", self.name, f"#{{{name}}}"], check=True,
                              capture_output=True, text=True).stdout.strip()

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{self.screen()}")

    def settled(self, quiet_s: float = 0.5, timeout: float = 10) -> str:
        """The screen once it has stopped changing for quiet_s (a tab switch animates its underline)."""
        end = time.monotonic() + timeout
        text = self.screen()
        while time.monotonic() < end:
            time.sleep(quiet_s)
            again = self.screen()
            if again == text:
                return text
            text = again
        return text

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        socket = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / self.name
        socket.unlink(missing_ok=True)


def exit_code(text: str) -> int | None:
    """The shell's `echo EXIT=$?` line (not the echoed command line, which has EXIT=$?)."""
    found = re.search(r"^EXIT=(\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def counter(text: str) -> int | None:
    """The iteration counter as the screen shows it, thousands separators and all ("iteration 1,060/8,000")."""
    found = re.search(r"iteration ([\d,]+)/[\d,]+", text)
    return int(found.group(1).replace(",", "")) if found else None


@pytest.fixture
def terminal(tmp_path):
    data = tmp_path / "data"
    make_digits(data / "mnist")
    configs = tmp_path / "configs"
    configs.mkdir()
    sessions = []

    def start(iterations: int, command: str = "") -> Tmux:
        """The app (or `vitui COMMAND ...`) in a fresh tmux session, in the test's folder."""
        (configs / "tiny-mlp.toml").write_text(
            'description = "a small NumPy MLP run for the terminal test"\nmodel = "mlp-numpy"\ndataset = "mnist"\n'
            f"per_class = 50\nlr = 0.5\niterations = {iterations}\nlog_every = 10\neval_every = 100\n"
            "val_fraction = 0.0\n[model_args]\nhidden = 32\n")
        env = {"PYTHONPATH": str(ROOT), "VITUI_CONFIGS": str(configs), "VITUI_OFFLINE": "1", "TERM": "xterm-256color",
               "PS1": "'$ '"}
        session = Tmux(f"vitui-test-{os.getpid()}-{len(sessions)}", env)
        sessions.append(session)
        session.send(f"cd {tmp_path} && stty -g > stty-before && {sys.executable} -m vitui {command} --runs-dir runs "
                     f"--data-dir {data}; echo EXIT=$?; stty -g > stty-after", "Enter")
        return session

    yield start, tmp_path
    for session in sessions:
        session.kill()


def launch_and_watch(session: Tmux) -> None:
    """Launch the only experiment and read the screen until the chart has points and the counter moves."""
    session.wait_for(lambda t: "tiny-mlp" in t and "launch" in t, 30, "the launcher")
    session.send("Enter")
    text = session.wait_for(lambda t: counter(t) is not None, 30, "the progress counter")
    first = counter(text)
    session.wait_for(lambda t: (counter(t) or 0) > first and BRAILLE.search(t), 30, "points and a moving counter")


def only_run(tmp_path: Path) -> Path:
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_launch_watch_and_quit_restores_the_terminal(terminal):
    start, tmp_path = terminal
    # Long enough that the counter is seen moving on a fast machine (~2,000 iterations/s here when quiet),
    # short enough to complete on a loaded one.
    session = start(iterations=8000)
    launch_and_watch(session)
    session.wait_for(lambda t: "completed" in t, 180, "the run to complete")
    session.send("q")
    text = session.wait_for(lambda t: exit_code(t) is not None, 10, "the app to exit")
    assert exit_code(text) == 0
    time.sleep(0.3)
    assert session.flag("alternate_on") == "0"  # back on the shell's screen
    assert session.flag("mouse_any_flag") == "0" and session.flag("cursor_flag") == "1"
    assert (tmp_path / "stty-before").read_text() == (tmp_path / "stty-after").read_text()  # modes restored

    run = only_run(tmp_path)
    for name in ("config.json", "events.jsonl", "status.json", "summary.json", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
    lines = (run / "events.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines)
    assert list(read_events(run))[-1].state == "completed"


def quit_choosing(session: Tmux, key: str) -> float:
    """Press q, then `key` in the quit dialog; the seconds from the choice until the shell has its terminal back.

    ~0.4 s on an idle 2-core machine for either choice; the tests' bound leaves room for a loaded one (the
    Pilot test times the app itself to under a second).
    """
    session.send("q")
    session.wait_for(lambda t: "Leave running" in t, 10, "the quit dialog")
    asked = time.monotonic()
    session.send(key)
    text = session.wait_for(lambda t: exit_code(t) is not None, 10, "the app to exit")
    assert exit_code(text) == 0
    return time.monotonic() - asked


def test_quit_leaving_the_run_going_returns_at_once(terminal):
    start, tmp_path = terminal
    session = start(iterations=10_000_000)  # far longer than the test: it must still be training after the app
    launch_and_watch(session)
    took = quit_choosing(session, "l")
    # The proof that quitting did not wait for the worker is that the run is still training after the app.
    assert took < 3.0, f"quitting took {took:.1f}s"
    run = only_run(tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "running"
    # Left running headless: the worker goes on writing its log after the app has gone ...
    size = (run / "events.jsonl").stat().st_size
    end = time.monotonic() + 30
    while (run / "events.jsonl").stat().st_size == size and time.monotonic() < end:
        time.sleep(0.2)
    assert (run / "events.jsonl").stat().st_size > size, "the run stopped writing when the app quit"
    # ... and still stops gracefully when asked, as `vitui watch` or the browser would ask it.
    os.kill(status["pid"], signal.SIGINT)
    end = time.monotonic() + 60
    while json.loads((run / "status.json").read_text())["state"] == "running" and time.monotonic() < end:
        time.sleep(0.2)
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"
    assert list(read_events(run))[-1].state == "stopped"
    assert (run / "checkpoints" / "last.pt").is_file()


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def wait_for_status(run: Path, state: str, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = json.loads((run / "status.json").read_text())
        if status["state"] == state:
            return status
        time.sleep(0.2)
    raise AssertionError(f"the run did not become {state}: {(run / 'status.json').read_text()}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_to_the_app_leaves_the_run_going_and_restores_the_terminal(terminal, signum):
    start, tmp_path = terminal
    session = start(iterations=10_000_000)
    launch_and_watch(session)
    run = only_run(tmp_path)
    worker = json.loads((run / "status.json").read_text())["pid"]
    os.kill(parent_of(worker), signum)  # the app: the worker's parent
    text = session.wait_for(lambda t: exit_code(t) is not None, 10, "the app to exit")
    assert exit_code(text) == 0 and f"{run.name} is still training" in text
    time.sleep(0.3)
    assert session.flag("alternate_on") == "0" and session.flag("mouse_any_flag") == "0"
    assert (tmp_path / "stty-before").read_text() == (tmp_path / "stty-after").read_text()
    size = (run / "events.jsonl").stat().st_size
    time.sleep(1.0)
    assert (run / "events.jsonl").stat().st_size > size, "the run stopped when the app got the signal"
    # Not Ctrl-C: the worker is no longer in the terminal's foreground, and the stop says so.
    os.kill(worker, signal.SIGINT)
    assert wait_for_status(run, "stopped")["detail"] == "stopped by SIGINT"


def test_stop_and_quit_is_gone_at_once_and_the_run_records_why_it_stopped(terminal):
    start, tmp_path = terminal
    session = start(iterations=10_000_000)
    launch_and_watch(session)
    took = quit_choosing(session, "s")  # the app no longer waits for the run's checkpoint
    assert took < 3.0, f"quitting took {took:.1f}s"
    run = only_run(tmp_path)
    assert wait_for_status(run, "stopped")["detail"] == "stopped by the user on quitting vitui"
    assert (run / "checkpoints" / "last.pt").is_file()


def test_ctrl_c_in_a_headless_terminal_is_recorded_as_ctrl_c(terminal):
    start, tmp_path = terminal
    session = start(iterations=10_000_000, command="run tiny-mlp --no-tui")
    session.wait_for(lambda t: "iteration 100/" in t, 60, "the first evaluation line")
    session.send("C-c")
    text = session.wait_for(lambda t: exit_code(t) is not None, 60, "the command to exit")
    assert exit_code(text) == 130 and "run stopped by Ctrl-C" in text
    assert json.loads((only_run(tmp_path) / "status.json").read_text())["detail"] == "stopped by Ctrl-C"


# ---------------------------------------------------------------- every kind of extra tab, in a real terminal

def stack_of(pid: int) -> str:
    """Where a stuck process is, for the failure message (py-spy when it is installed)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    try:
        return subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(no stack: {exc})"


def app_pid(session: Tmux) -> int:
    """The vitui app's process: the child of the pane's shell."""
    shell = session.flag("pane_pid")
    children = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True).stdout.split()
    return int(children[0]) if children else 0


def wait_watching(session: Tmux, events: Path, predicate, timeout: float, what: str, stall_s: float = 10.0) -> str:
    """wait_for, failing early with the app's stack when the screen stays the same while the run's log grows."""
    end = time.monotonic() + timeout
    shown, since, size_then = "", time.monotonic(), 0
    while time.monotonic() < end:
        text = session.screen()
        if predicate(text):
            return text
        size = events.stat().st_size if events.exists() else 0
        now = time.monotonic()
        if text != shown:
            shown, since, size_then = text, now, size
        elif now - since > stall_s and size > size_then:
            raise AssertionError(f"the screen has not changed for {now - since:.0f}s while the run's log grew from "
                                 f"{size_then} to {size} bytes; it shows:\n{text}\nthe app's stack:\n"
                                 f"{stack_of(app_pid(session))}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{session.screen()}")


@pytest.mark.parametrize("experiment", ["rnn-dinos", "vit-cifar10", "cnn-bn-cifar10"])
def test_a_real_run_with_extra_tabs_completes_and_quits_in_a_real_terminal(experiment, mnist_small, cifar_small,
                                                                            tmp_path):

    shutil.copy(require(shared_data() / "dinos.txt"), mnist_small / "dinos.txt")
    sets = " ".join(f"--set {k}={v}" for k, v in tiny_overrides(experiment, cifar_small).items())
    env = {"PYTHONPATH": str(ROOT), "VITUI_OFFLINE": "1", "TERM": "xterm-256color", "PS1": "'$ '"}
    session = Tmux(f"vitui-test-{os.getpid()}-{experiment}", env)
    try:
        session.send(f"cd {tmp_path} && stty -g > stty-before && {sys.executable} -m vitui run {experiment} {sets} "
                     f"--runs-dir runs --data-dir {mnist_small}; echo EXIT=$?; stty -g > stty-after", "Enter")
        session.wait_for(lambda t: "running" in t or "completed" in t, 60, "the live screen")
        run = only_run(tmp_path)
        text = wait_watching(session, run / "events.jsonl", lambda t: "completed" in t, 240, "the run to complete")
        tabs = EXTRA_TABS[experiment]
        assert all(title in text.splitlines()[3] for title in tabs), text  # the tab bar names every extra tab
        marks = {"names": "novel", "attention": "probe 1/", "mistakes": "→"}
        for title in tabs:
            for _ in range(8):  # p cycles the panels: charts, log, results, config, then the extra ones
                session.send("p")
                body = "\n".join(session.settled().splitlines()[5:])
                if marks[title] in body:
                    break
            else:
                raise AssertionError(f"the {title} tab never showed {marks[title]!r}; the screen:\n{session.screen()}")
        session.send("q")
        text = session.wait_for(lambda t: exit_code(t) is not None, 10, "the app to exit")
        assert exit_code(text) == 0
        time.sleep(0.3)
        assert session.flag("alternate_on") == "0"
        assert (tmp_path / "stty-before").read_text() == (tmp_path / "stty-after").read_text()
        assert json.loads((run / "status.json").read_text())["state"] == "completed"
    finally:
        session.kill()
