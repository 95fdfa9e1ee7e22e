"""Provides the vitui Textual app: screen wiring, run following threads, quitting, and the make_app() factory.

Training never runs here: each run is a worker process (vitui.launch) or someone else's log
(vitui.sources.TailSource). One thread worker per followed run drains its events into a RunState and
posts RunUpdated messages, which merge in the queue, so the screens draw the newest state at their
own pace and the UI never waits on training.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.geometry import Size
from textual.worker import Worker, WorkerState, get_current_worker

from vitui.core import runfolder, stops
from vitui.core.errors import ConfigError
from vitui.core.experiments import RunConfig
from vitui.core.resume import check_resume, resume_settings
from vitui.messages import (LaunchRequested, OpenRun, ResumeRun, RunFinished, RunUpdated, ShowLauncher, ShowRuns,
                            ShowStudies, StopRun, StopStudy, StudyRequested)
from vitui.notice import notice_mode, notice_sequence
from vitui.render.formats import plain
from vitui.runstate import RunState
from vitui.screens.help import HelpScreen
from vitui.sources import HandleSource, RunSource, TailSource

POLL_S = 0.1  # how long a follower waits for events; also how soon it notices a dead worker
LOAD_CHUNK = 5000  # events applied at a time when a resumed run's log is read from its file
MIN_SIZE = (80, 24)  # below this the screens cannot draw their charts and tables: say so instead


@dataclass
class RunSession:
    """A run the app follows: where its events come from and what has been learnt from them."""

    source: RunSource
    run: RunState
    stop_reason: str = stops.BY_USER  # what `s` records as the stop's reason, by where the run was opened
    stopping: bool = False
    logged: int = 0  # a resumed run: bytes of its log written before its new worker started, read from the file

    @property
    def run_dir(self) -> Path:
        return self.source.run_dir

    @property
    def owned_and_running(self) -> bool:
        return self.source.owned and self.run.running


class VituiApp(App[int]):
    """The dashboard: launcher, live runs, runs browser and comparisons."""

    CSS_PATH = "app.tcss"
    TITLE = "vitui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit_app", "quit"),
        Binding("ctrl+q", "quit_app", "quit", show=False, priority=True),
        Binding("ctrl+c", "quit_app", "quit", show=False, priority=True),
        # Priority, so that it works on dialogs too; a focused text field still takes "?" as a character.
        Binding("question_mark", "help", "help", priority=True),
    ]

    def __init__(self, runs_dir: Path, data_dir: Path | None = None, *, config: RunConfig | None = None,
                 watch: Path | None = None, study: Path | None = None, start_run: Callable[..., Any] | None = None,
                 start_study: Callable[..., Any] | None = None, resume: Path | None = None, notify: str = "off"):
        super().__init__()
        self.notify_mode = notify  # vitui.notice: how a followed run's end is announced beyond the app
        self._initial_study = study
        if start_study is None:
            from vitui.studies.process import start_study_process as start_study
        self._start_study = start_study  # starts a study in a process of its own (tests pass a fake)
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self._initial_config = config
        self._initial_resume = resume  # with config: the run folder `vitui run --resume` continues
        self._initial_watch = watch
        if start_run is None:
            from vitui.launch import start_run

            # multiprocessing starts its resource tracker on the first spawn and hands it sys.stderr's
            # file descriptor; inside the app sys.stderr is Textual's capture (fileno -1), so start it now.
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
        self._start_run = start_run
        self.sessions: dict[Path, RunSession] = {}
        self.farewell: list[str] = []  # printed on the terminal after the app has given it back
        self.worker_errors: list[str] = []  # threads of the app that failed (a follower that stopped following)
        # Study folders started here (`vitui study` starts its study, then opens the app on it): where they stand is
        # printed at the end, once each.
        self.studies_started: list[Any] = []
        if study is not None:
            from vitui.studies.folder import STUDY, StudyFolder

            if (Path(study) / STUDY).is_file():
                self.studies_started.append(StudyFolder(Path(study).resolve()))

    def on_mount(self) -> None:
        from vitui.screens.browser import RunsBrowserScreen
        from vitui.screens.launcher import LauncherScreen

        self._handle_exit_signals()
        self.call_after_refresh(self.check_size)
        if self._initial_study is not None:
            self.push_screen(LauncherScreen())
            self.show_studies(self._initial_study)
            return
        if self._initial_watch is not None:
            self.push_screen(RunsBrowserScreen())
            self.open_run(self._initial_watch, stop_reason=stops.FROM_WATCH)
            return
        if self._initial_config is not None and self.try_launch(self._initial_config, resume=self._initial_resume):
            return  # the launcher comes when the user goes back from the run (esc)
        self.push_screen(LauncherScreen())

    # ------------------------------------------------------------------ runs
    def launch(self, config: RunConfig, resume: Path | None = None) -> RunSession:
        """Start a worker for `config` (or one that continues the run folder `resume`) and open its live screen."""
        if resume is None:
            handle = self._start_run(config, self.runs_dir, self.data_dir, quiet=True)
            logged = 0
        else:
            # Its log so far comes from the file, up to where it ends before the new worker starts; the rest by queue.
            logged = runfolder.log_size(resume)
            handle = self._start_run(config, self.runs_dir, self.data_dir, quiet=True, resume=resume)
        session = self.follow(HandleSource(handle), config.to_dict(), logged=logged)
        self.show_session(session)
        return session

    def follow(self, source: RunSource, config: dict[str, Any] | None = None, *,
               stop_reason: str = stops.BY_USER, logged: int = 0) -> RunSession:
        if config is None:
            config = runfolder.load_run(source.run_dir).config
        session = RunSession(source, RunState(source.run_dir.name, config), stop_reason, logged=logged)
        self.sessions[source.run_dir] = session
        self.follow_run(session)
        return session

    def show_session(self, session: RunSession) -> None:
        from vitui.screens.run import LiveRunScreen

        self.push_screen(LiveRunScreen(session))

    def show_runs(self) -> None:
        """The runs browser: back to it if it is open underneath, else on top."""
        from vitui.screens.browser import RunsBrowserScreen

        self._show(RunsBrowserScreen)

    def show_studies(self, select: Path | None = None) -> None:
        """The studies screen (back to it if it is open underneath), with `select` chosen when given."""
        from vitui.screens.studies import StudiesScreen

        if any(isinstance(s, StudiesScreen) for s in self.screen_stack):
            self._show(StudiesScreen)
            if select is not None:
                cast(StudiesScreen, self.screen).choose(select)
        else:
            self.push_screen(StudiesScreen(select))

    def show_launcher(self) -> None:
        from vitui.screens.launcher import LauncherScreen

        self._show(LauncherScreen)

    def _show(self, cls: type) -> None:
        from vitui.screens.run import RunScreen

        if any(isinstance(s, cls) for s in self.screen_stack):
            while not isinstance(self.screen, cls):
                self.pop_screen()
        elif len(self.screen_stack) == 2 and isinstance(self.screen, RunScreen):
            # A run opened straight from `vitui run`: its screen gives way, as if `cls` had been under it
            # (the run goes on training; the runs browser opens it again).
            self.switch_screen(cls())
        else:
            self.push_screen(cls())

    def open_run(self, run_dir: Path, stop_reason: str = stops.FROM_BROWSER) -> None:
        """A run from the browser or `vitui watch`: live if it is training (here or elsewhere), else its record."""
        from vitui.screens.run import RunDetailScreen

        run_dir = Path(run_dir).resolve()
        session = self.sessions.get(run_dir)
        if session is None and runfolder.load_run(run_dir).state in ("created", "running"):
            session = self.follow(TailSource(run_dir), stop_reason=stop_reason)
        if session is not None:
            self.show_session(session)
        else:
            self.push_screen(RunDetailScreen(run_dir))

    # ------------------------------------------------------------------ what screens ask for
    def on_launch_requested(self, message: LaunchRequested) -> None:
        self.try_launch(message.config)

    def try_launch(self, config: RunConfig, resume: Path | None = None) -> bool:
        """launch(), saying why in a notification when the run cannot start (a runs folder that cannot take it)."""
        try:
            self.launch(config, resume=resume)
            return True
        except (ConfigError, OSError, RuntimeError) as exc:
            self.notify(f"could not start the run: {plain(exc)}", severity="error", timeout=10, markup=False)
            return False

    def on_open_run(self, message: OpenRun) -> None:
        self.open_run(message.run_dir)

    def on_resume_run(self, message: ResumeRun) -> None:
        """`r` in the runs browser: continue a stopped, failed or crashed run live, with its own settings."""
        run_dir = Path(message.run_dir).resolve()
        session = self.sessions.get(run_dir)
        if session is not None and session.run.running:
            self.notify(plain(f"{run_dir.name} is {session.run.state}: it can be resumed once it has stopped"),
                        markup=False)
            return
        try:
            config = resume_settings(run_dir, {})
            check_resume(run_dir, config)
            self.launch(config, resume=run_dir)
        except ConfigError as exc:
            self.notify(plain(exc), severity="error", timeout=10, markup=False)
        except (OSError, RuntimeError) as exc:
            self.notify(f"could not resume the run: {plain(exc)}", severity="error", timeout=10, markup=False)

    def on_show_runs(self, message: ShowRuns) -> None:
        self.show_runs()

    def on_show_launcher(self, message: ShowLauncher) -> None:
        self.show_launcher()

    def on_show_studies(self, message: ShowStudies) -> None:
        self.show_studies(message.select)

    def on_study_requested(self, message: StudyRequested) -> None:
        """Start the study in a process of its own: it goes on if the app quits, like a run left training."""
        from vitui.studies.folder import StudyFolder

        try:
            folder = StudyFolder.create(self.runs_dir, message.study)
            runners = folder.runners()
            if not runners:
                self._start_study(folder, self.runs_dir, self.data_dir)
        except OSError as exc:
            self.notify(plain(f"could not start the study: {exc}"), severity="error", timeout=10, markup=False)
            return
        self.show_studies(folder.path)
        if runners:  # a second process would share its queue but run twice as many runs at once
            self.notify(plain(f"study {folder.id} is running already (process {', '.join(runners)}): s stops it"),
                        markup=False)
            return
        if folder.path.resolve() not in [f.path.resolve() for f in self.studies_started]:
            self.studies_started.append(folder)
        states = folder.job_states()
        done = sum(1 for s in states if s.done)
        self.notify(plain(f"study {folder.id} started: {len(states) - done} of {len(states)} runs to go"
                          if done else f"study {folder.id} started: {len(states)} runs"), markup=False)

    def on_stop_study(self, message: StopStudy) -> None:
        from vitui.studies.folder import StudyFolder
        from vitui.studies.process import stop_study

        asked = stop_study(StudyFolder(message.folder))
        self.notify(plain(f"stopping {message.folder.name}: its runs in flight save a checkpoint; r resumes it"
                          if asked else f"{message.folder.name} is not running here"), markup=False)

    def on_stop_run(self, message: StopRun) -> None:
        session = self.sessions.get(message.run_dir)
        if session is None:
            return
        if not session.run.running:
            self.notify(plain(f"the run is already {session.run.state}"), markup=False)
            return
        self.stop_session(session)
        if session.stopping:
            self.notify("stopping: finishing the step and saving a checkpoint")
        self.screen.post_message(RunUpdated(message.run_dir))

    @work(thread=True, exit_on_error=False, group="follow", description="follow a run")
    def follow_run(self, session: RunSession) -> None:
        """Drain a run's events into its state until it ends; the only code that reads the worker's queue."""
        worker = get_current_worker()
        source, run = session.source, session.run
        if session.logged:  # a resumed run: what it logged before, then its new worker's events
            batch = []
            for event in runfolder.read_events(session.run_dir, end=session.logged):
                batch.append(event)
                if len(batch) >= LOAD_CHUNK:  # in chunks, so the screen can draw while a long log loads
                    run.apply(batch)
                    batch = []
            run.apply(batch)
            self.post_message(RunUpdated(session.run_dir))
        while not worker.is_cancelled:
            events = source.poll(POLL_S)
            if events:
                run.apply(events)
                self.post_message(RunUpdated(session.run_dir))
            if not source.alive:
                while events := source.poll(0):
                    run.apply(events)
                state, detail = source.finish()
                run.finish(state, detail)
                self.post_message(RunFinished(session.run_dir, run.state, run.detail))
                return

    def on_run_updated(self, message: RunUpdated) -> None:
        if not self.screen_stack:  # the app is closing: an update from a follower thread has nobody to tell
            return
        self.screen.post_message(RunUpdated(message.run_dir))  # the screen on top redraws what it shows of it

    def on_run_finished(self, message: RunFinished) -> None:
        self.on_run_updated(RunUpdated(message.run_dir))
        name = message.run_dir.name
        # Names, errors and reasons are untrusted text: plain, never markup.
        if message.state == "failed":
            self.notify(plain(f"{name} failed: {self.sessions[message.run_dir].run.last_error or message.detail}"),
                        severity="error", timeout=8, markup=False)
        else:
            self.notify(plain(f"{name} {stops.describe_end(message.state, message.detail)}"),
                        severity="warning" if message.state == "stopped" else "information", markup=False)
        self.write_notice(notice_sequence(self.notify_mode, "vitui", f"{name} {message.state}"))

    def write_notice(self, sequence: str) -> None:
        """A bell or an OSC notification straight to the terminal (as copy_to_clipboard writes OSC 52)."""
        if sequence and self._driver is not None:
            self._driver.write(sequence)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.worker_errors.append(f"{event.worker.description}: {event.worker.error!r}")  # kept after the notice
            self.notify(plain(f"{event.worker.description} stopped following: {event.worker.error}"), severity="error",
                        timeout=10, markup=False)

    # ------------------------------------------------------------------ help
    def action_help(self) -> None:
        """Every key of the current screen, as its bindings and its focused widget's say."""
        self.push_screen(HelpScreen(self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "help":
            return not isinstance(self.screen, HelpScreen)  # there "?" is the help's own key: it closes it
        return True

    # ------------------------------------------------------------------ quitting
    def action_quit_app(self) -> None:
        running = [s for s in self.sessions.values() if s.owned_and_running]
        if not running:
            self.exit(0)
            return
        from vitui.screens.quit import QuitDialog

        self.push_screen(QuitDialog([s.run for s in running]), self._quit_choice)

    def _quit_choice(self, choice: str | None) -> None:
        if choice == "ended":  # the runs it asked about ended while it asked: nothing left to decide
            self.exit(0)
        elif choice == "detach":
            self.leave_runs_and_exit()
        elif choice == "stop":
            self.stop_runs_and_exit()

    def leave_runs_and_exit(self) -> None:
        """Quit at once, leaving the runs started here training headless (they go on writing their folders)."""
        for session in [s for s in self.sessions.values() if s.owned_and_running]:
            session.source.detach()
            name = plain(session.run_dir.name)
            self.farewell.append(f"{name} is still training; follow it with `vitui watch {name}`")
        self.exit(0)

    def stop_runs_and_exit(self) -> None:
        """Quit at once; the runs started here finish their step, save a checkpoint and mark themselves stopped.

        The app does not wait for them (a step of a big model can take seconds): each worker was asked to
        stop first and then told it is on its own, so it records the stop without anyone reading its queue.
        """
        for session in [s for s in self.sessions.values() if s.owned_and_running]:
            self.stop_session(session, stops.ON_QUIT)
            session.source.detach()
            name = plain(session.run_dir.name)
            self.farewell.append(f"{name} is stopping: it saves a checkpoint and marks itself stopped "
                                 f"(`vitui runs show {name}`)")
        self.exit(0)

    def stop_session(self, session: RunSession, reason: str | None = None) -> None:
        try:
            session.source.stop(reason or session.stop_reason)
        except (RuntimeError, OSError) as exc:
            self.notify(plain(exc), severity="error", markup=False)
            return
        session.stopping = True

    def _handle_exit_signals(self) -> None:
        """SIGTERM and SIGHUP (a closed terminal or SSH session) quit like "leave running": the runs go on,
        and Textual gets to give the terminal back. Without this either signal killed the app on the spot,
        leaving the terminal in the app's screen mode."""
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread (tests may run the app elsewhere)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self.leave_runs_and_exit)

    # ------------------------------------------------------------------ size
    def on_resize(self, event: events.Resize) -> None:
        self.check_size(event.size)  # runs before Textual's own handler updates self.size

    def check_size(self, size: Size | None = None) -> None:
        """Below MIN_SIZE one line says so (the too-small screen) instead of charts with garbled axes."""
        from vitui.screens.too_small import TooSmallScreen

        size = size or self.size
        small = size.width < MIN_SIZE[0] or size.height < MIN_SIZE[1]
        if small and not any(isinstance(s, TooSmallScreen) for s in self.screen_stack):
            self.push_screen(TooSmallScreen(MIN_SIZE))
        elif not small and isinstance(self.screen, TooSmallScreen):
            self.pop_screen()


def make_app(runs_dir: Path | None = None, data_dir: Path | None = None, *, config: RunConfig | None = None,
             watch: Path | None = None, study: Path | None = None, start_run: Callable[..., Any] | None = None,
             start_study: Callable[..., Any] | None = None, resume: Path | None = None,
             notify: str | None = None) -> VituiApp:
    """The one way to build the app: the CLI, the tests and the snapshot tests all come through here. `notify`
    (vitui.notice) defaults to $VITUI_NOTIFY, else off."""
    return VituiApp(runs_dir if runs_dir is not None else runfolder.default_runs_dir(), data_dir,
                    config=config, watch=watch, study=study, start_run=start_run, start_study=start_study,
                    resume=resume, notify=notice_mode(notify))


def run_app(**kwargs: Any) -> int:
    """Run the app in this terminal and return its exit code (the terminal is restored when it returns)."""
    app = make_app(**kwargs)
    code = app.run()
    if app.studies_started:
        from vitui.studies.process import study_farewell

        app.farewell += [study_farewell(folder) for folder in app.studies_started]
    try:
        for line in app.farewell:
            print(line)
        sys.stdout.flush()
    except OSError:  # the terminal hung up (SIGHUP): nobody is there to read it
        pass
    return code or app.return_code or 0  # an app that ended on an exception returns nothing, its return code 1
