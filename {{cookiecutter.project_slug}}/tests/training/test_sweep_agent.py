"""Runs under a W&B sweep agent are ranked honestly: a diverged or stuck run is a result at the
metric's worst value (exit 0), W&B's exit record holds the real exit status, a short run still
reports the sweep metric, the agent's re-queue arguments parse, a stop by the agent is told from a
preemption, and W&B's own Agent bookkeeping keeps running through diverging runs. W&B offline, the
agent's code in-process, no network."""

from __future__ import annotations

import json
import logging
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import wandb_records
from conftest import FAST, HANG, ROOT, start_train, train, wait_until
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args
from {{cookiecutter.project_slug}}.training.callbacks import LOW_LR, Diverged, DivergenceGuard
from {{cookiecutter.project_slug}}.training.monitor import MONITOR, WORST

TINY = ["--width", "16", "--batch-size", "64"]
DIVERGE = ["--lr", "1e300", "--optimizer", "sgd", "--no-batchnorm"]  # NaN at the first steps
STUCK = ["--lr", "0.7", "--optimizer", "sgd", "--momentum", "0.9", "--no-batchnorm", "--max-epochs", "2"]


def wandb_run(run_dir: Path, timeout: float = HANG) -> dict:
    """The offline W&B run of `run_dir`: exit code, preempting, summary and history of MONITOR (waits
    for the exit record: wandb-core writes it just after wandb.finish returns)."""
    deadline = time.monotonic() + timeout
    while True:
        path = wandb_records.find_run_file(run_dir)
        out = {"exit_code": None, "preempting": False, "summary": {}, "id": path.stem.removeprefix("run-")}
        for r in wandb_records.records(path):
            kind = r.WhichOneof("record_type")
            if kind == "exit":
                out["exit_code"] = r.exit.exit_code
            elif kind == "preempting":
                out["preempting"] = True
            elif kind == "summary":
                out["summary"].update(
                    {u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in r.summary.update}
                )
        out["history"] = [row[MONITOR] for row in wandb_records.history(path) if MONITOR in row]
        if out["exit_code"] is not None or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


@pytest.fixture
def agent_env(monkeypatch):
    monkeypatch.setenv("WANDB_SWEEP_ID", "sweep1")
    monkeypatch.setenv("WANDB_RUN_ID", "agentrun1")


# ----------------------------------------------------------------------------- outcomes


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["diverged", "stuck"])
def test_under_an_agent_a_diverged_or_stuck_run_is_a_result_ranked_last(kind, agent_env, tmp_path, capsys):
    flags = [*DIVERGE, "--width", "16"] if kind == "diverged" else STUCK
    status, run_dir = train(tmp_path, *flags, "--wandb-mode", "offline")
    err = capsys.readouterr().err
    assert status == 0, err[-2000:]
    assert run_dir.name == "wandb-agentrun1"  # named by the W&B run id
    assert "ε0" in err and "--find-lr" in err and f"{MONITOR} = {WORST:g}" in err
    results = json.loads((run_dir / "results.json").read_text())
    assert (
        results[MONITOR] == WORST
        and results["diverged"] is True
        and results["diverged_reason"]
        in {
            "diverged": ("diverged", "overflow"),  # ε0 = 1e300: the update overflows float32
            "stuck": ("stuck",),
        }[kind]
    )
    assert results["diverged_step"] >= 0 and "diverged_loss" in results
    run = wandb_run(run_dir)
    # the process exits 0 (a result, not a crash for the agent), the W&B run ends failed: W&B's bayes ranks it
    # last (it would rank a finished one by its best epoch; tests/search/test_search_wandb.py)
    assert run["exit_code"] == 1 and run["id"] == "agentrun1"
    assert run["summary"][MONITOR] == WORST and run["summary"]["diverged"] is True
    assert run["summary"]["diverged_step"] == results["diverged_step"]
    assert run["history"][-1] == WORST


def _epoch(guard, losses: list[float]) -> None:
    trainer, module = type("T", (), {"global_step": 0, "current_epoch": 0})(), torch.nn.Module()
    guard.on_train_epoch_start(trainer, module)
    for loss in losses:
        module.last_train_loss = loss
        guard.on_train_batch_end(trainer, module, None, None, 0)
    guard.on_train_epoch_end(trainer, module)


def test_stuck_is_an_epoch_whose_mean_loss_is_not_below_the_first_once_patience_steps_ran():
    guard = DivergenceGuard(lr=0.7)
    _epoch(guard, [2.3] + [2.4] * 9)  # 10 steps: fewer than the patience (20), not judged yet
    with pytest.raises(Diverged, match=r"stuck.*\(2\.4\).*\(2\.3\).*ε0 = 0\.7") as e:
        _epoch(guard, [2.4] * 10)
    assert e.value.reason == "stuck" and e.value.loss == pytest.approx(2.4)
    learning = DivergenceGuard(lr=0.7)
    _epoch(learning, [2.3] + [1.0] * 24)  # below its first value: never judged again
    _epoch(learning, [2.5] * 25)


def test_a_loss_that_rose_and_is_falling_again_is_not_stuck():
    guard = DivergenceGuard(lr=0.7)
    _epoch(guard, [2.0] + [8.0] * 12 + [3.0] * 12)  # above its first value, but falling within the epoch
    _epoch(guard, [2.5] * 25)  # still above it, 1% under the epoch before: falling
    with pytest.raises(Diverged, match="stuck"):
        _epoch(guard, [2.5] * 25)  # flat: stuck


@pytest.mark.parametrize(("lr", "direction"), [(LOW_LR * 0.99, "too low"), (LOW_LR, "too high")])
def test_a_stuck_run_under_a_tenth_of_the_default_lr_is_told_its_lr_is_too_low(lr, direction):
    guard = DivergenceGuard(lr=lr)
    with pytest.raises(Diverged, match=f"probably {direction}") as e:
        _epoch(guard, [2.3] + [2.31] * 24)
    assert ("raise --lr" in str(e.value)) == (direction == "too low") and e.value.reason == "stuck"


@pytest.mark.slow
def test_outside_an_agent_stuck_is_exit_1_with_the_learning_rate_message_and_wandb_records_it(tmp_path, capsys):
    status, run_dir = train(tmp_path, *STUCK, "--wandb-mode", "offline", "--run-name", "s")
    err = capsys.readouterr().err
    assert status == 1 and "training is stuck" in err and "ε0 = 0.7" in err and "--find-lr" in err
    assert not (run_dir / "results.json").exists()
    assert wandb_run(run_dir)["exit_code"] == 1  # was 0 ("finished") with a plain wandb.finish()


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags", [["--max-steps", "20", "--batch-size", "16"], ["--fast-dev-run"]], ids=["steps", "fdr"]
)
@pytest.mark.slow
def test_a_short_run_reports_the_sweep_metric_once_at_its_end(flags, tmp_path):
    status, run_dir = train(tmp_path, "--width", "16", *flags, "--wandb-mode", "offline", "--run-name", "r")
    assert status == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert 0 <= results[MONITOR] <= 1
    run = wandb_run(run_dir)
    assert run["exit_code"] == 0
    assert run["history"] == [pytest.approx(results[MONITOR])]  # once, at the end
    assert run["summary"][MONITOR] == pytest.approx(results[MONITOR]) and run["summary"]["diverged"] is False


# ----------------------------------------------------------------------------- the agent's arguments


@pytest.mark.slow
def test_the_arguments_an_agent_builds_from_a_logged_config_parse(agent_env, tmp_path, caplog):
    """A re-queued run is passed its whole stored W&B config: build that argument list with wandb's own
    create_sweep_command_args from a real run's logged config, in both the `${args}` spellings."""
    status, run_dir = train(
        tmp_path, *TINY, "--max-steps", "3", "--tasks", "digit", "--task-weights", "1", "--wandb-mode", "offline"
    )
    assert status == 0
    logged = {}
    for r in wandb_records.records(wandb_records.find_run_file(run_dir)):
        kind = r.WhichOneof("record_type")
        updates = r.run.config.update if kind == "run" else r.config.update if kind == "config" else []
        logged.update({u.key: json.loads(u.value_json) for u in updates})
    logged = {k: v.get("value", v) if isinstance(v, dict) and k != "_wandb" else v for k, v in logged.items()}
    logged.setdefault("_wandb", {"cli_version": "0.31.0"})  # what the server adds to a run's stored config
    assert {"input_shape", "param_count", "steps_per_epoch", "global_batch_size"} <= set(logged)
    assert logged["tasks"] == ["digit"]
    logged["task_weights"] = []  # Python's empty list, `--task_weights=[]`
    rendered = create_sweep_command_args({"args": {k: {"value": v} for k, v in logged.items()}})
    argv = rendered["args"]
    assert "--tasks=['digit']" in argv and "--task_weights=[]" in argv and any(a.startswith("--_wandb=") for a in argv)
    caplog.set_level(logging.DEBUG, logger="{{cookiecutter.project_slug}}.config.agent")
    a = parse_args(argv)  # exits 2 on anything it refuses
    assert len([r for r in caplog.records if r.name == "{{cookiecutter.project_slug}}.config.agent"]) == 1
    parsed = config_dict(a)
    for name in ("lr", "width", "batch_size", "optimizer", "max_steps", "tasks", "dataset", "batchnorm"):
        assert parsed[name] == logged[name], name
    assert parsed["task_weights"] == [] and a.run_name == "wandb-agentrun1"
    assert a.resume_ckpt is not None  # its own run directory's last.ckpt: the re-queued run continues


@pytest.mark.parametrize(
    ("token", "value"),
    [("--tasks=['digit']", ["digit"]), ("--tasks=[digit]", ["digit"]), ("--task-weights=[1, 0.5]", [1.0, 0.5])],
)
def test_list_values_in_python_or_yaml_spelling(token, value):
    name = token[2:].split("=")[0].replace("-", "_")
    assert getattr(parse_args([token, "--tasks=digit,parity"] if name == "task_weights" else [token]), name) == value


def test_outside_an_agent_wandb_is_ignored_but_a_logged_key_is_still_bad_input(capsys):
    assert parse_args(["---wandb={'cli_version': '0.31.0'}"]).lr == parse_args([]).lr
    with pytest.raises(SystemExit) as e:
        parse_args(["--param_count=5"])
    assert e.value.code == 2 and "param-count" in capsys.readouterr().err


# ----------------------------------------------------------------------------- W&B's Agent in-process


def _agent_loop(tmp_path, monkeypatch, runs: int):
    import wandb
    from wandb import wandb_agent

    monkeypatch.setattr(wandb, "Api", lambda *a, **k: None)  # _run_loop asks the server after each run
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.chdir(tmp_path)
    agent = wandb_agent.Agent(api=None, queue=queue.Queue(), sweep_id="sw1", count=runs)
    agent.POLL_INTERVAL = 0.2
    agent._sweep_command = [sys.executable, "${program}", "${args}"]
    args = {
        "lr": {"value": 1e300},
        "optimizer": {"value": "sgd"},
        "batchnorm": {"value": False},
        "dataset": {"value": "digits"},
        "accelerator": {"value": "cpu"},
        "width": {"value": 16},
        "output_dir": {"value": str(tmp_path / "runs")},
        "wandb_mode": {"value": "offline"},
    }
    pending = [
        [{"type": "run", "run_id": f"div{i}", "program": str(ROOT / "train.py"), "args": args}] for i in range(runs)
    ]

    def heartbeat(agent_id, run_status):  # the server hands out the next run once the last one ended
        return pending.pop(0) if pending and not agent._run_processes else []

    monkeypatch.setattr(agent, "_heartbeat_commands", heartbeat)
    agent._run_loop("agent-x")
    return agent


@pytest.mark.slow
def test_six_diverging_runs_leave_wandbs_agent_running_and_each_ranks_last(tmp_path, monkeypatch):
    agent = _agent_loop(tmp_path, monkeypatch, runs=6)
    assert (agent._failed, agent._finished) == (0, 6)
    assert not agent.is_failing() and not agent.is_flapping()  # with exit 1 it stopped after 3 runs
    for i in range(6):
        run_dir = tmp_path / "runs" / f"wandb-div{i}"
        assert json.loads((run_dir / "results.json").read_text())[MONITOR] == WORST
        run = wandb_run(run_dir)
        # The process exits 0 (the agent goes on); its W&B run ends failed, so that W&B's bayes ranks it last.
        assert run["id"] == f"div{i}" and run["exit_code"] == 1
        assert run["summary"][MONITOR] == WORST and run["summary"]["diverged"] is True


# ----------------------------------------------------------------------------- stop and preemption


@pytest.mark.slow
def test_a_preemption_is_requeued_into_its_own_run_and_a_stop_by_the_agent_finishes_it(tmp_path):
    env = {"WANDB_SWEEP_ID": "sw1", "WANDB_RUN_ID": "pre1", "WANDB_MODE": "offline"}
    flags = [*FAST[:2], "--dataset", "digits", *TINY, "--output-dir", str(tmp_path / "runs"), "--wandb-mode", "offline"]
    flags += ["--max-epochs", "3"]  # 21 steps each: stopped in the second epoch, then in the third
    run_dir = tmp_path / "runs" / "wandb-pre1"  # named by the W&B run id
    last = run_dir / "checkpoints" / "last.ckpt"
    process = start_train(tmp_path, *flags, env=env, pause_at=30)
    wait_until(process, (tmp_path / "paused-30").exists)
    subprocess.run(["kill", "-TERM", str(process.pid)], check=True)  # a sender that is not the parent
    _, err = process.communicate(timeout=HANG)
    assert process.returncode == 143 and "preempted" in err and "Traceback" not in err, err[-2000:]
    first = wandb_run(run_dir)
    assert first["preempting"] and first["exit_code"] == 143 and first["id"] == "pre1"
    step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    # The sweep re-queues it (same run id, same arguments): it continues its own run directory and W&B run.
    written = last.stat().st_mtime_ns
    again = start_train(tmp_path, *flags, env=env, pause_at=50)
    wait_until(again, (tmp_path / "paused-50").exists)
    assert last.stat().st_mtime_ns != written  # the second epoch's end, written by the re-queued run
    again.send_signal(signal.SIGTERM)  # from this process, its parent: as wandb's agent stops a run
    _, err = again.communicate(timeout=HANG)
    assert again.returncode == 0 and "stopped by the W&B sweep" in err, err[-2000:]
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] > step
    assert sorted(p.name[-4:] for p in (run_dir / "wandb").glob("offline-run-*")) == ["pre1", "pre1"]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["wandb-pre1"]
    second = wandb_run(run_dir)
    assert second["exit_code"] == 0 and not second["preempting"]
