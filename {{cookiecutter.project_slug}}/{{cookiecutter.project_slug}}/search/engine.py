"""`sweeps run`: a W&B sweep file executed with Optuna. Each trial is an ordinary `train.py` run in its own process and
run directory, started with the flags the W&B agent would pass; the study lives in an Optuna storage, so runners on many
machines (same --storage, same --study) share it, and a runner started again continues it. Budget: the study holds
--trials counted trials (finished, pruned, crashed or running); a trial that was running when its runner died is failed,
not counted, and asked again with the same values (noticed at once on its own machine, and by any live runner through
the RDB storage's heartbeats within about 2x --heartbeat), unless its run had finished: then results.json holds its
outcome, which is recorded."""

import contextlib
import fcntl
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import SweepError
from ..files import alive, write_atomically
from .space import Space, distributions
from .storage import open_storage
from .sweepfile import Sweep, command_line
from .trial import trial_environment

RUNNER = f"{socket.gethostname()}:{os.getpid()}"
POLL = 0.02  # seconds between looks at the running trials' exits (reports are answered at once)


@dataclass
class Options:
    trials: int
    workers: int = 1
    storage: str | None = None
    study: str | None = None
    output_dir: Path = Path("runs")
    seed: int | None = None
    quasi_random: bool = False
    heartbeat: int = 30
    train_args: list = field(default_factory=list)


@dataclass
class Running:
    trial: object
    process: subprocess.Popen
    run_dir: Path
    log: Path
    slot: int
    started: float
    reports: int  # the pipe the trial writes its validations to (pruning.py), and the one it reads answers from
    answers: int
    buffer: bytes = b""
    closed: bool = False
    pruned_at: int | None = None
    diverged: dict | None = None


def make_sampler(sweep: Sweep, space: Space, seed: int | None, quasi_random: bool):
    import optuna

    if sweep.method == "grid":

        class Grid(optuna.samplers.GridSampler):
            """GridSampler calls study.stop() once the grid is done, which only works inside
            optimize(); the runner asks and tells itself and stops at the grid's size (run_sweep)."""

            def after_trial(self, study, trial, state, values) -> None:
                pass

        return Grid(space.grid(), seed=seed)
    if sweep.method == "random" and quasi_random:  # scrambled Sobol points, categorical ones drawn at random
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.QMCSampler(scramble=True, seed=seed, warn_independent_sampling=False)
    if sweep.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def not_counted(trials) -> set[int]:
    """Numbers of the trials outside the budget: failed ones asked again (their runner died) and
    ones asked beyond the budget by runners that raced for the last place."""
    retried = {t.user_attrs.get("retry_of") for t in trials}.union(
        *(t.system_attrs.get("retry_history", []) for t in trials)  # RetryHeartbeatStaleTrialCallback's
    )
    return {
        t.number for t in trials if t.state.name == "FAIL" and (t.number in retried or "not_counted" in t.user_attrs)
    }


def counted(study, waiting: bool = True) -> list:
    """The trials inside the budget (`waiting`: with those queued to run again)."""
    trials = study.get_trials(deepcopy=False)
    skip = not_counted(trials)
    return [t for t in trials if t.number not in skip and (waiting or t.state.name != "WAITING")]


def retry(study, trial, why: str) -> None:
    """Fail a trial that will not finish (its runner died, or was stopped) and ask its values again."""
    from optuna.trial import TrialState

    study._storage.set_trial_user_attr(trial._trial_id, "not_counted", why)
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def unlock(trial) -> None:
    """Remove the `.lock` a dead trial's run left in its run directory (when no process holds it)."""
    lock = Path(str(trial.user_attrs.get("run_dir", ""))) / ".lock"
    with contextlib.suppress(OSError), open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: the run goes on; leave it
        lock.unlink()


def settle(study, sweep: Sweep, trial, why: str) -> None:
    """A running trial whose runner is gone: recorded from its results.json when its run had finished
    (the runner died before telling the study), else failed and asked again with the same values."""
    from optuna.trial import TrialState

    run_dir = Path(str(trial.user_attrs.get("run_dir", "")))
    value, diverged, pruned = metric_value(run_dir, sweep.metric) if trial.user_attrs.get("run_dir") else (None,) * 3
    unlock(trial)
    if pruned is None and not diverged and value is None:
        print(f"trial {trial.number} was running when {why}: asked again", flush=True)
        return retry(study, trial, why)
    print(f"trial {trial.number} had finished when {why}: recorded from {run_dir / 'results.json'}", flush=True)
    if pruned is not None:
        study.tell(trial.number, state=TrialState.PRUNED, skip_if_finished=True)
    else:
        study.tell(trial.number, sweep.worst() if diverged else value, skip_if_finished=True)


def recover(study, sweep: Sweep) -> None:
    """Running trials whose runner is gone: on this machine, a runner whose process no longer exists
    (at once, any storage); elsewhere, one whose heartbeat stopped (RDB storages, after the grace period:
    Optuna fails it and the storage's stale-trial callback, stale_callback(), asks it again)."""
    import optuna
    from optuna.storages._heartbeat import is_heartbeat_enabled

    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        runner = str(t.user_attrs.get("runner", ""))
        name, _, pid = runner.rpartition(":")
        if name == host and pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another runner did it
                settle(study, sweep, t, f"its runner ({runner}) stopped")
    storage = study._storage
    if is_heartbeat_enabled(storage):
        for trial_id in storage._get_stale_trial_ids(study._study_id):  # what fail_stale_trials will fail
            t = storage.get_trial(trial_id)
            value, diverged, pruned = metric_value(Path(str(t.user_attrs.get("run_dir", ""))), sweep.metric)
            if pruned is not None or diverged or value is not None:
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another runner did it
                    settle(study, sweep, t, f"its runner ({t.user_attrs.get('runner')}) stopped beating")
        optuna.storages.fail_stale_trials(study)


def stale_callback():
    """Optuna's retry of a heartbeat-stale trial (a WAITING copy with its values), which also says so
    and removes the dead run's lock."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    class Retry(RetryHeartbeatStaleTrialCallback):
        def __call__(self, study, trial) -> None:
            runner = trial.user_attrs.get("runner")
            print(f"trial {trial.number} was running when its runner ({runner}) stopped beating: asked again")
            unlock(trial)
            super().__call__(study, trial)

    return Retry()


def open_study(sweep: Sweep, o: Options, url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = sweep.space
    from .stopping import WandbHyperband

    pruner = WandbHyperband(**sweep.hyperband, skip=not_counted) if sweep.hyperband else optuna.pruners.NopPruner()
    try:
        storage = open_storage(url, o.heartbeat, stale_callback)
        study = optuna.create_study(
            storage=storage,
            pruner=pruner,
            study_name=o.study,
            direction=sweep.direction,
            load_if_exists=True,
        )
    except (ImportError, ValueError, optuna.exceptions.OptunaError) as e:
        raise SweepError(f"argument --storage: cannot open {url} ({str(e).splitlines()[0][:200]})") from None
    except Exception as e:  # noqa: BLE001 - sqlalchemy's connection errors: one line
        why = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        raise SweepError(f"argument --storage: cannot open {url} ({why})") from None
    # A runner joining a study of N trials seeds its sampler with --seed + N: restarted, it does not draw again
    # the values its first start drew
    seed = None if o.seed is None else (o.seed + len(study.get_trials(deepcopy=False))) % 2**32  # numpy's limit
    study.sampler = make_sampler(sweep, space, seed, o.quasi_random)
    if study.direction.name.lower() != sweep.goal:
        raise SweepError(
            f"--study {o.study} in {url} is {study.direction.name.lower()}d; the sweep file wants {sweep.goal}"
        )
    known = study.user_attrs.get("sweep")
    if known is None:
        study.set_user_attr("sweep", sweep.config)
        study.set_user_attr("metric", sweep.metric)
    elif known.get("parameters") != sweep.config.get("parameters"):
        raise SweepError(f"--study {o.study} in {url} was started from another sweep file (other parameters)")
    beat = study.user_attrs.get("heartbeat")  # one for all runners: a shorter one would fail the others' live trials
    if beat is None:
        study.set_user_attr("heartbeat", o.heartbeat)
    elif beat != o.heartbeat:
        raise SweepError(f"argument --heartbeat: the runners of --study {o.study} beat with --heartbeat {beat}; use it")
    return study, space


def gpus() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU")]


def slot_environment(slot: int, workers: int, devices: list[str]) -> dict:
    """A worker's share of the machine: CPU threads divided, and GPUs divided (shared round-robin
    when there are fewer GPUs than workers). One worker keeps the environment as it is."""
    if workers == 1:
        return {}
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = str(max(1, cpus // workers))
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    if devices:
        n = len(devices)
        share = devices[slot * n // workers : (slot + 1) * n // workers] if n >= workers else [devices[slot % n]]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(share)
    return env


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """A trial gets SIGTERM when its runner dies (even by SIGKILL): it saves last.ckpt and ends."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def safe_name(study_name: str) -> str:
    """The study's name as a file name: never a path (`../x` → `x`), at most 100 characters."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in study_name).strip("-.")[:100] or "trial"


def run_name(study_name: str, number: int) -> str:
    return f"{safe_name(study_name)}-{number:04d}"


def launch(study, sweep: Sweep, space: Space, o: Options, slot: int, devices: list[str]) -> Running | None:
    """Ask the next trial and start its run; None when the budget was taken meanwhile (another runner)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled
    from optuna.trial import TrialState

    trial = study.ask(fixed_distributions=distributions(space))
    beating = is_heartbeat_enabled(study._storage)
    if beating:  # at once: a runner dying from here on leaves no trial running for ever
        study._storage.record_heartbeat(trial._trial_id)
    ahead = [t for t in counted(study) if t.number < trial.number]
    if len(ahead) >= o.trials:  # runners raced for the last places: this one is beyond the budget
        study._storage.set_trial_user_attr(trial._trial_id, "not_counted", "beyond the budget")
        study.tell(trial, state=TrialState.FAIL)
        return None
    flags = space.flags(trial.params)
    name = run_name(study.study_name, trial.number)
    run_dir = o.output_dir / name
    log = o.output_dir / f"{safe_name(study.study_name)}-logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    attrs = {"runner": RUNNER, "config": flags, "run_dir": str(run_dir.resolve()), "beating": beating}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    extra = ["--output-dir", str(o.output_dir), "--run-name", name]
    if not any(a.split("=")[0] in ("--wandb-group", "--wandb_group") for a in o.train_args):
        extra += ["--wandb-group", study.study_name]
    command = command_line(sweep, flags) + extra + list(o.train_args)
    reports, child_reports = os.pipe()
    child_answers, answers = os.pipe()
    env = {
        **os.environ,
        **slot_environment(slot, o.workers, devices),
        **trial_environment(child_reports, child_answers, sweep.metric, sweep.hyperband is not None),
    }
    with open(log, "w") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=(child_reports, child_answers),
            preexec_fn=die_with_parent,
        )
    os.close(child_reports)
    os.close(child_answers)
    shown = " ".join(f"{k}={v}" for k, v in flags.items() if k in space.params)
    print(f"trial {trial.number} started: {shown} → {run_dir}", flush=True)
    return Running(trial, process, run_dir, log, slot, time.perf_counter(), reports, answers)


def serve(running: list[Running], timeout: float) -> None:
    """Wait up to `timeout` for the trials' reports and answer each: report the validation to the
    study and say whether the pruner stops the trial (one line each way)."""
    import select

    by_fd = {r.reports: r for r in running if not r.closed}
    if not by_fd:
        time.sleep(timeout)
        return
    for fd in select.select(list(by_fd), [], [], timeout)[0]:
        read_reports(by_fd[fd])


def read_reports(r: Running) -> None:
    data = os.read(r.reports, 65536)
    if not data:  # the trial's process ended
        r.closed = True
        return
    r.buffer += data
    while b"\n" in r.buffer:
        line, r.buffer = r.buffer.split(b"\n", 1)
        message = json.loads(line)
        if "diverged" in message:
            r.diverged = message["diverged"]
            continue
        r.trial.report(message["value"], step=message["step"])
        if message.get("last"):  # the trial's last epoch: it waits for no answer (pruning.py)
            continue
        prune = r.trial.should_prune()
        r.pruned_at = message["step"] if prune else None
        with contextlib.suppress(OSError):  # the trial ended meanwhile
            os.write(r.answers, b"prune\n" if prune else b"go\n")


def close_pipes(r: Running) -> None:
    """Read what the ended trial wrote (without waiting: a process it left behind may hold the pipe)."""
    import select

    while not r.closed and select.select([r.reports], [], [], 0)[0]:
        read_reports(r)
    os.close(r.reports)
    os.close(r.answers)


def metric_value(run_dir: Path, metric: str) -> tuple[float | None, bool, int | None]:
    """The run's metric from results.json (the best epoch's, as the W&B summary holds it), whether the
    run recorded itself as diverged, and after how many validations it was pruned (None: it was not)."""
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return None, False, None
    if not isinstance(results, dict):
        return None, False, None
    value = results.get(metric)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return (float(value) if ok else None), bool(results.get("diverged")), results.get("pruned_at")


def used(study, trial, run_dir: Path) -> None:
    """The trial's `config` as it ran: the flags after `--` override the file's values (config.yaml says)."""
    try:
        ran = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return
    config = trial.user_attrs.get("config") or {}
    if isinstance(ran, dict) and isinstance(config, dict):
        config = {k: ran.get(k.replace("-", "_"), v) for k, v in config.items()}
        study._storage.set_trial_user_attr(trial._trial_id, "config", config)


def mark_pruned(run_dir: Path, step: int) -> None:
    """results.json says the run was pruned (`sweeps report`, and a runner recovering the trial, read it)."""
    with contextlib.suppress(OSError, ValueError):
        results = json.loads((run_dir / "results.json").read_text())
        if isinstance(results, dict):
            write_atomically(run_dir / "results.json", json.dumps({**results, "pruned": True, "pruned_at": step}))


def finish(study, sweep: Sweep, r: Running) -> str:
    """Record a finished trial's outcome in the study; returns it in words."""
    from optuna.trial import TrialState

    rc = r.process.returncode
    close_pipes(r)
    study._storage.set_trial_user_attr(r.trial._trial_id, "wall_s", round(time.perf_counter() - r.started, 3))
    used(study, r.trial, r.run_dir)
    if r.run_dir.is_dir():  # the sweep file the run was part of (`sweeps next --from DIR` reads its ranges)
        with contextlib.suppress(OSError):
            write_atomically(r.run_dir / "sweep.yaml", yaml.safe_dump(sweep.config, sort_keys=False))
    value, diverged, _ = metric_value(r.run_dir, sweep.metric)
    if r.pruned_at is not None and rc == 0:
        mark_pruned(r.run_dir, r.pruned_at)
        study._storage.set_trial_user_attr(r.trial._trial_id, "pruned_at", r.pruned_at)
        study.tell(r.trial, state=TrialState.PRUNED)
        return f"pruned after {r.pruned_at} validations"
    if r.diverged is not None or diverged:
        study._storage.set_trial_user_attr(r.trial._trial_id, "diverged", r.diverged or True)
        study.tell(r.trial, sweep.worst())
        return f"diverged: recorded with the worst value {sweep.worst()}"
    if rc == 0 and value is not None:
        study.tell(r.trial, value)
        return f"{sweep.metric} = {value:.4f}"
    study._storage.set_trial_user_attr(r.trial._trial_id, "exit", rc)
    study.tell(r.trial, state=TrialState.FAIL)
    return f"failed (exit {rc}); see {r.log}"


def stop_all(study, running: list[Running], why: str) -> None:
    """The runner is stopped: its trials are ended (last.ckpt saved) and asked again later."""
    for r in running:
        r.process.terminate()
    for r in running:
        try:
            r.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            r.process.kill()
            r.process.wait()
        close_pipes(r)
        retry(study, r.trial, why)


def run_sweep(sweep: Sweep, o: Options) -> int:
    """Run trials until the study holds o.trials counted ones; returns the exit status."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    created = not o.output_dir.exists()
    o.output_dir.mkdir(parents=True, exist_ok=True)
    url = o.storage or f"sqlite:///{(o.output_dir / 'sweeps.db').resolve()}"
    o.study = o.study or sweep.path.stem
    try:
        study, space = open_study(sweep, o, url)
    except SweepError:
        if created:  # refused: leave nothing behind
            shutil.rmtree(o.output_dir, ignore_errors=True)
        raise
    if sweep.method == "grid":
        size = math.prod(len(v) for v in space.grid().values())
        if o.trials > size:
            print(f"the grid has {size} points: --trials {o.trials} lowered to {size}")
            o.trials = size
    recover(study, sweep)
    devices = gpus() if o.workers > 1 else []
    print(f"study {study.study_name} in {url}: {len(counted(study))} of {o.trials} trials so far", flush=True)
    running: list[Running] = []
    stopped = {"signal": None}

    def on_signal(signum, frame):
        stopped["signal"] = signum
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_signal)
    beat, beating = time.monotonic(), o.heartbeat and is_heartbeat_enabled(study._storage)
    try:
        full = False
        while True:
            for r in [r for r in running if r.process.poll() is not None]:
                running.remove(r)
                took = time.perf_counter() - r.started
                print(f"trial {r.trial.number} {finish(study, sweep, r)} ({took:.1f} s)", flush=True)
                full = False
            while not full and len(running) < o.workers:
                full = len(counted(study, waiting=False)) >= o.trials
                if not full:
                    free = min(set(range(o.workers)) - {r.slot for r in running})
                    r = launch(study, sweep, space, o, free, devices)
                    full = r is None
                    running += [r] if r else []
            if not running and not (beating and others_running(study, full)):
                break
            serve(running, POLL)
            if beating and time.monotonic() - beat > o.heartbeat / 2:  # a dead runner is noticed within 2 beats
                beat = time.monotonic()
                for r in running:
                    study._storage.record_heartbeat(r.trial._trial_id)
                recover(study, sweep)
                full = False
    except KeyboardInterrupt:
        stop_all(study, running, "the runner was stopped")
        print(f"stopped; {len(running)} running trial(s) will be asked again when the study continues", file=sys.stderr)
        return 143 if stopped["signal"] == signal.SIGTERM else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    summarize(study, sweep)
    return 0


def others_running(study, full: bool) -> bool:
    """Trials of other runners still running (with heartbeats) or queued within the budget: this runner stays
    to take them over if those runners die."""
    trials = study.get_trials(deepcopy=False)
    return any(t.state.name == "RUNNING" and t.user_attrs.get("beating") for t in trials) or (
        not full and any(t.state.name == "WAITING" for t in trials)
    )


def summarize(study, sweep: Sweep) -> None:
    from optuna.trial import TrialState

    trials = counted(study)
    states = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState if s != TrialState.WAITING}
    line = ", ".join(f"{n} {s}" for s, n in states.items() if n)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        config = best.user_attrs.get("config")
        print(
            f"study {study.study_name}: {line}; best trial {best.number} ({sweep.metric} = {best.value:.4f}): {config}"
        )
    else:
        print(f"study {study.study_name}: {line}; no finished trial")
