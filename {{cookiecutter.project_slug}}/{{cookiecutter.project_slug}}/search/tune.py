"""`sweeps tune`: the checklist as a procedure on the local engine (engine.py), within a budget of trials or epochs.

1. ε0 first: the LR range test (train.py --find-lr); the flags' ε0, the suggestion, then log-scale draws around it.
2. The incumbent (best run so far) repeated over --seeds seeds: the noise, the smallest gain that counts.
3. The diagnosis of the incumbent picks the next stage, in the checklist's order: a high training error → capacity
   (depth, width; another network family where the data's shape allows it: rnn, cnn for images and sequences), within
   a parameter budget; a train-validation gap → regularization (L2, dropout; augmentation for images; early stopping
   is left last, unsearched, as Ng advises); otherwise the second tier (momentum, optimizer, minibatch size). An MLP
   on ordered data that asks for capacity or regularization tries the families that read the order first. After
   every change of the network or optimizer, ε0 is searched again, narrowly. A stage that gains less than the noise
   ends the search, as does the budget. The diagnosis is tune's own (the train/val metrics each run records); when
   the diagnostics feature wrote the incumbent's diagnosis.json, its capacity / regularize finding decides.
4. The choice: on validation; configurations within the noise of the best are repeated over seeds and the best mean
   wins; only the winner's test metric is read (every train.py run tests itself; tune reads no other test figure):
   test mean ± sd over the winner's seeds.
Each stage is a study (`<study>-<k>-<stage>`) in one storage and the plan is kept in <output-dir>/tune.json: a
killed tune started again continues, no finished trial is run again, and the epochs already spent count."""

import argparse
import contextlib
import csv
import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from ..config.types import Range, number_type
from ..errors import SweepError, refuse
from ..files import TargetError, check_folder, write_atomically

PACKAGE = __package__.rpartition(".")[0]
SIZES = {"lr": 6, "lr-narrow": 4, "family": 2, "capacity": 8, "regularize": 8, "second": 6}  # trials per stage at most
PARAM_BUDGET = 1_000_000  # a capacity stage tries networks up to max(this, 8× the incumbent's parameters)
DEPTHS = {"mlp": (1, 2, 3, 4), "cnn": (1, 2, 3), "rnn": (1, 2)}
# Tune's own rule. Accuracy: a training error above 2 points and above the gap asks for capacity, a gap above 2 points
# for regularization. A minimized metric (rmse) has no zero to reach: a gap over a quarter of the validation error
# asks for regularization, a smaller one for capacity.
MIN_GAP, REL_GAP = 0.02, 0.25
UNBUILT = 10**18  # count_parameters of a network this data cannot take: never within a budget
SUGGESTED = re.compile(r"suggested ε0 \(--lr\): ([0-9.eE+-]+)")


def add_tune_command(commands) -> None:
    t = commands.add_parser("tune", help="tune in the checklist's order (ε0, then what the diagnosis asks) locally")
    budget = t.add_mutually_exclusive_group(required=True)
    budget.add_argument("--trials", type=_positive, metavar="N", help="budget: train.py runs in all")
    budget.add_argument("--budget-epochs", dest="epochs", type=_positive, metavar="E", help="budget: epochs in all")
    t.add_argument(
        "--seeds", type=number_type(int, Range(1, 1000)), default=3, metavar="K", help="seeds of the noise and repeats"
    )
    t.add_argument("--workers", type=_positive, default=1, metavar="K", help="trials run at once on this machine")
    t.add_argument("--storage", metavar="URL", help="Optuna storage (default: <output-dir>/<study>/sweeps.db)")
    t.add_argument("--study", default="tune", metavar="NAME", help="prefix of the stages' studies (default: tune)")
    t.add_argument("--output-dir", type=Path, default=Path("runs"), metavar="PATH", help="writes <output-dir>/<study>/")
    t.add_argument("--program", default="train.py", metavar="SCRIPT", help="the training script (default: train.py)")
    t.add_argument("--heartbeat", type=float, default=30.0, metavar="SECONDS", help="as for `sweeps run`")
    t.add_argument(
        "--seed", type=number_type(int, Range(0, 2**32 - 2001)), default=0, metavar="S",
        help="the samplers' seed and the trials' --seed (repeats: S+1001 …; default: 0)",
    )  # fmt: skip


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return int(text)


def tune_command(parser, args, train_args: list[str]) -> int:
    from ..config.parser import parse_args

    fixed = parse_args(train_args)  # a bad flag: train.py's one line and exit 2, before any run
    if "seed" in given(train_args):
        why = "tune repeats runs over seeds itself (--seeds): do not fix --seed after --"
        return refuse(f"{parser.prog} tune", SweepError(why))
    try:
        import optuna  # noqa: F401
    except ImportError:
        return refuse(f"{parser.prog} tune", SweepError(f"tune needs Optuna: pip install -e '.[sweeps]' ({PACKAGE})"))
    try:
        try:  # files.py's output check, as `sweeps run`'s: a file, /proc, unwritable, a name too long
            check_folder(args.output_dir).mkdir(parents=True, exist_ok=True)
        except (TargetError, OSError) as e:
            raise SweepError(f"argument --output-dir: {getattr(e, 'strerror', None) or e}") from None
        from .engine import safe_name

        args.output_dir = args.output_dir / safe_name(args.study)  # <output-dir>/<study>/: report, runs, state
        args.output_dir.mkdir(exist_ok=True)
        return Tune(args, train_args, fixed).run()
    except SweepError as e:
        return refuse(f"{parser.prog} tune", e)


def given(train_args: list[str]) -> set[str]:
    """The flags fixed after `--` (never searched: the command line wins over a trial's values)."""
    names = {a[2:].split("=")[0].replace("-", "_") for a in train_args if a.startswith("--")}
    return names | {n[3:] for n in names if n.startswith("no_")}


class Tune:
    def __init__(self, args, train_args: list[str], fixed):
        self.a, self.out, self.epochs = args, args.output_dir, fixed.max_epochs
        self.fixed = given(train_args)
        group = [] if "wandb_group" in self.fixed else ["--wandb-group", args.study]  # every trial in one group
        self.train_args = [*train_args, *group]
        self.url = args.storage or f"sqlite:///{(self.out / 'sweeps.db').resolve()}"
        self.state_path = self.out / "tune.json"
        self.state = {"stages": []}
        if self.state_path.is_file():
            try:
                self.state = json.loads(self.state_path.read_text())
            except (OSError, ValueError) as e:
                raise SweepError(f"cannot read {self.state_path} ({e}); remove it to start afresh") from None
        self.step = 0  # the stages run (or found done) by this process, in order
        self.monitor, self.maximize = monitor_guess(fixed)
        self.flags, self.lr = fixed, fixed.lr  # the command line's flags (defaults filled); the flags' ε0

    # --- bookkeeping -------------------------------------------------------------------------------------
    def save(self) -> None:
        write_atomically(self.state_path, json.dumps(self.state, indent=1, default=str) + "\n")

    def studies(self) -> list:
        import optuna

        from .engine import counted

        found = []
        for s in self.state["stages"]:
            try:
                found.append((s, counted(optuna.load_study(study_name=s["study"], storage=self.url))))
            except KeyError:  # planned, not started
                found.append((s, []))
        return found

    def spent(self) -> int:
        """Epochs (or trials) spent: the range test counts 1; a trial its results.json's epochs (else planned)."""
        runs = [t for _, trials in self.studies() for t in trials]
        if self.a.trials:
            return len(runs) + ("lr_suggestion" in self.state)
        total = 1 if "lr_suggestion" in self.state else 0
        for t in runs:
            results = _json(Path(t.user_attrs.get("run_dir", "")) / "results.json")
            ran = results.get("epochs")
            total += ran if isinstance(ran, int) and ran >= 0 else self.epochs
        return total

    def affordable(self, n: int, reserve_runs: int, share: bool = True) -> int:
        """Trials a stage may run: n, at most a quarter of the budget's runs (at least 2: room for the stages
        after it), or fewer so that `reserve_runs` runs (the repeats) still fit."""
        cost = 1 if self.a.trials else self.epochs
        budget = self.a.trials or self.a.epochs
        left = budget - self.spent() - reserve_runs * cost
        return max(0, min(n, max(2, budget // cost // 4) if share else n, left // cost))

    # --- one stage: a sweep file, a study ----------------------------------------------------------------
    def stage(self, name: str, why: str, params: dict, base: dict, n: int, enqueue=(), method="bayes") -> dict | None:
        """Run (or continue) the stage; returns its record with its trials' (value, flags, run_dir)."""
        from .engine import Options, run_sweep
        from .sweepfile import load_sweep

        k = self.step
        self.step += 1
        if k < len(self.state["stages"]):
            record = self.state["stages"][k]  # planned before a restart: the same file, the same study
            if record["name"] != name:
                why = f"{self.state_path}: stage {k} was {record['name']}, this tune's is {name} (another plan)"
                raise SweepError(f"{why}; remove {self.out} to start afresh")
        else:
            if n < 1:
                return None
            searched = {p: v for p, v in params.items() if p not in self.fixed}
            constants = {p: {"value": v} for p, v in base.items() if p not in searched and p not in self.fixed}
            sweep = {
                "program": self.a.program,
                "method": method,
                "metric": {"name": self.monitor, "goal": "maximize" if self.maximize else "minimize"},
                "parameters": {**constants, **searched},
            }
            path = self.out / "tune" / f"{k:02d}-{name}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, yaml.safe_dump(sweep, sort_keys=False, allow_unicode=True))
            record = {"name": name, "why": why, "file": str(path), "study": f"{self.a.study}-{k:02d}-{name}"}
            record.update(trials=n, searched=sorted(searched), enqueue=[dict(e) for e in enqueue])
            self.state["stages"].append(record)
            self.save()
        sweep = load_sweep(Path(record["file"]))
        o = Options(
            trials=record["trials"],
            workers=self.a.workers,
            storage=self.url,
            study=record["study"],
            output_dir=self.out,
            heartbeat=self.a.heartbeat,
            train_args=self.train_args,
            seed=(self.a.seed + 7919 * k) % 2**32,  # each stage's sampler its own stream, the same after a restart
        )
        print(f"tune: stage {k} {name}: {record['why']}", flush=True)
        from unittest import mock

        from . import engine

        # A listed stage (capacity: the networks within the parameter budget) is run in its list's order by
        # a sampler that takes the first one no other trial holds (restart-safe); others keep the file's.
        listed = lambda sweep, space, seed, quasi: ListSampler(record["enqueue"], seed)  # noqa: E731 - the engine's
        # seed (this stage's + the trials so far): a restarted stage's random draws do not repeat the ones it ran
        with mock.patch.object(engine, "make_sampler", listed) if record["enqueue"] else contextlib.nullcontext():
            status = run_sweep(sweep, o)
        if status != 0:
            raise Stopped(status)
        record["runs"] = self.trials_of(record)
        return record

    def trials_of(self, record: dict) -> list[tuple[float, dict, str]]:
        import optuna

        study = optuna.load_study(study_name=record["study"], storage=self.url)
        done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.value is not None]
        worst = 0.0 if self.maximize else 1e6
        return [(t.value, t.user_attrs["config"], t.user_attrs["run_dir"]) for t in done if t.value != worst]

    def value(self, run, key: str):
        """A flag's value in a run: its trial's, else the command line's or the default (a trial's config holds only
        the values its sweep file set)."""
        return run[1].get(key, getattr(self.flags, key, None))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def best(self, runs: list) -> tuple[float, dict, str] | None:
        return (max if self.maximize else min)(runs, key=lambda r: r[0]) if runs else None

    # --- the procedure -------------------------------------------------------------------------------------
    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        for key in ("seed", "seeds"):  # a restart resumes the same tune: the stage files hold these
            if self.state.setdefault(key, getattr(self.a, key)) != getattr(self.a, key):
                again = f"give the same to continue, or remove {self.out} to start afresh"
                raise SweepError(f"{self.state_path} was started with --{key} {self.state[key]}: {again}")
        try:
            return self.procedure()
        except Stopped as s:
            print(f"tune: stopped; start the same command again to continue ({self.state_path})", file=sys.stderr)
            return s.status

    def procedure(self) -> int:
        K, log = self.a.seeds, []
        lr0 = self.range_test()
        reserve = 2 * K  # the noise repeats and the winner's
        # The flags' own ε0 and the suggestion are tried first (listed), then log-uniform draws around the suggestion:
        # the defaults are a candidate, so tune is not worse than them by its own choice.
        default = self.lr
        start = [{"lr": default}, {"lr": lr0}] if default != lr0 else [{"lr": lr0}]
        span = {"distribution": "log_uniform_values", "min": min(lr0 / 10, default), "max": max(lr0 * 10, default)}
        first = self.stage(
            "lr",
            f"ε0 first (Ng's most important hyperparameter): the flags' ε0 {default:.3g}, the range test's "
            f"suggestion {lr0:.3g}, then log scale around the suggestion",
            {"lr": span},
            {"seed": self.a.seed},
            self.affordable(SIZES["lr"], reserve),
            start if "lr" not in self.fixed else (),
            "random",
        )
        if first is None or not first["runs"]:
            raise SweepError("the budget allows no ε0 search (or every trial failed): raise --trials/--budget-epochs")
        incumbent = self.best(first["runs"])
        log.append((first, None, incumbent))
        noise_runs = self.repeat(incumbent[1], "noise", "the incumbent over seeds: the noise a gain must beat")
        values = [v for v, _, _ in noise_runs] + [incumbent[0]]
        noise = statistics.stdev(values) if len(values) > 1 else 0.0
        done, stop = set(), ""
        while not stop:
            choice, why = self.choose(incumbent, done)
            if choice is None:
                stop = "every stage was tried"
                break
            done.add(choice)
            params, base, enqueue, method = self.plan(choice, incumbent)
            if not params:
                log.append(({"name": choice, "why": why + "; nothing to search for this data", "runs": []}, None, None))
                continue
            n = len(enqueue) or SIZES[choice]
            record = self.stage(choice, why, params, base, self.affordable(n, K), enqueue, method)
            if record is None:
                stop = "the budget is spent"
                break
            best = self.best(record["runs"])
            gain = self.gain(best, incumbent)
            log.append((record, gain, best))
            if (best is None or gain <= noise) and choice == "family":
                continue  # the families came before the stage the diagnosis asked for: that stage comes now
            if best is None or gain <= noise:
                stop = f"stage {choice} gained {gain:+.4f} ≤ the noise {noise:.4f}"
                continue
            changed = ("model", "depth", "width", "optimizer")
            network = any(self.value(best, k) != self.value(incumbent, k) for k in changed)
            incumbent = best
            if network:  # ε0 searched again, narrowly, after every change of the network
                lr = float(incumbent[1].get("lr", lr0))
                rec = self.stage(
                    "lr-narrow",
                    f"the network or optimizer changed ({self.network(incumbent[1])}): ε0 searched again, narrowly, "
                    f"around {lr:.3g}",
                    {"lr": {"distribution": "log_uniform_values", "min": lr / 10**0.5, "max": lr * 10**0.5}},
                    incumbent[1],
                    self.affordable(SIZES["lr-narrow"], K),
                )
                if rec is None:
                    stop = "the budget is spent"
                    break
                b = self.best(rec["runs"])
                log.append((rec, self.gain(b, incumbent), b))
                if b is not None and self.better(b[0], incumbent[0]):
                    incumbent = b
        return self.finish(incumbent, noise, noise_runs, log, stop)

    def range_test(self) -> float:
        if "lr_suggestion" not in self.state:
            run = f"{self.a.study}-lr-find"
            command = [sys.executable, self.a.program, "--find-lr", "--output-dir", str(self.out), "--run-name", run]
            done = subprocess.run([*command, *self.train_args], capture_output=True, text=True)
            found = SUGGESTED.search(done.stdout)
            if done.returncode != 0 or not found:
                last = (done.stderr.strip().splitlines() or ["no suggestion printed"])[-1]
                raise SweepError(f"the LR range test failed ({last[:200]})")
            self.state["lr_suggestion"] = float(found.group(1))
            self.save()
        return self.state["lr_suggestion"]

    def gain(self, best, incumbent) -> float:
        if best is None:
            return -math.inf
        return (best[0] - incumbent[0]) * (1 if self.maximize else -1)

    def repeat(self, flags: dict, name: str, why: str) -> list:
        seeds = {"seed": {"values": [self.a.seed + 1000 + i for i in range(1, self.a.seeds + 1)]}}
        base = {k: v for k, v in flags.items() if k != "seed"}
        record = self.stage(name, why, seeds, base, self.affordable(self.a.seeds, 0, share=False), method="grid")
        return record["runs"] if record else []

    # --- tune's stage chooser ------------------------------------------------------------------------------
    def errors(self, run_dir: str) -> tuple[float, float] | None:
        """(training error, validation error) at the incumbent's last epoch, from its metrics.csv."""
        metric = self.monitor.split("/", 1)[-1]
        last: dict = {}
        try:
            with open(Path(run_dir) / "metrics.csv", newline="") as f:
                for row in csv.DictReader(f):
                    for split in ("train", "val"):
                        if row.get(f"{split}/{metric}") not in (None, ""):
                            last[split] = float(row[f"{split}/{metric}"])
        except (OSError, ValueError, csv.Error):
            return None
        if len(last) < 2:
            return None
        if self.maximize:  # an accuracy: the error is 1 − it
            return 1 - last["train"], 1 - last["val"]
        return last["train"], last["val"]

    def choose(self, incumbent, done: set) -> tuple[str | None, str]:
        stage, why = self.diagnosed(incumbent, done)
        if stage in ("capacity", "regularize") and "family" not in done and self.ordered_mlp(incumbent):
            # an MLP on ordered data: a high training error or a gap, the network that reads the order comes first
            # (the diagnosis's first advice too: analysis/rules.ordered_family); regularizing the MLP did not help
            then = "an MLP on ordered data: first the networks that read the order (the domain dictates them)"
            return "family", f"{why}; {then}"
        return stage, why

    def ordered_mlp(self, incumbent) -> bool:
        hp = _yaml(Path(incumbent[2]) / "hparams.yaml")
        mlp = incumbent[1].get("model", hp.get("model")) == "mlp"
        return mlp and ordered(hp.get("input_shape") or []) and "model" not in self.fixed

    def diagnosed(self, incumbent, done: set) -> tuple[str | None, str]:
        order = [s for s in ("capacity", "regularize", "second") if s not in done]
        if not order:
            return None, ""
        found = {x.get("id"): x for x in _json(Path(incumbent[2]) / "diagnosis.json").get("findings", [])}
        for fid, stage in (("capacity", "capacity"), ("regularize", "regularize")):
            if fid in found and stage in order:
                return stage, f"the diagnosis (diagnostics feature): {fid}: {found[fid].get('evidence')}"
        e = self.errors(incumbent[2])
        if e is not None:
            train, val = e
            gap = val - train
            if self.maximize:
                underfit, overfit = train > max(gap, MIN_GAP), gap > MIN_GAP
            else:
                overfit = gap > REL_GAP * val
                underfit = not overfit
            shown = f"training error {train:.4g}, validation error {val:.4g} (gap {gap:.4g})"
            if underfit and "capacity" in order:
                return "capacity", f"high training error (the checklist: expand the capacity): {shown}"
            if overfit and "regularize" in order:
                return "regularize", f"a train−validation gap (regularize): {shown}"
            why = f"neither a high training error nor a gap: {shown}"
        else:
            why = "no train/validation curves to judge by"
        first = "second" if "second" in order else order[0]
        return first, f"{why}; {'second tier: momentum, optimizer, minibatch size' if first == 'second' else first}"

    def network(self, flags: dict) -> str:
        net = f"--model {flags.get('model', 'mlp')} --depth {flags.get('depth', 2)} --width {flags.get('width')}"
        return net + (f" --optimizer {flags['optimizer']}" if "optimizer" in flags else "")

    def plan(self, choice: str, incumbent) -> tuple[dict, dict, list, str]:
        """A stage's searched parameters, its fixed ones, the trials it enqueues and its method."""
        base, hp = incumbent[1], _yaml(Path(incumbent[2]) / "hparams.yaml")
        shape = hp.get("input_shape") or []
        image = hp.get("dataset_kind", "images") == "images" and len(shape) == 3 and min(shape[1:]) >= 8
        if choice in ("capacity", "family"):
            nets = capacity_candidates(hp, base, self.fixed)
            if choice == "family":  # the other families at their own size, nothing else; images: cnn first
                nets = [n for n in nets if n["model"] != base.get("model", hp.get("model"))]
                first = "cnn" if len(shape) == 3 else "rnn"  # as the diagnosis's advice (rules.ordered_family)
                nets = sorted(nets, key=lambda n: n["model"] != first)
                nets = [n for i, n in enumerate(nets) if n["model"] not in {m["model"] for m in nets[:i]}]
                nets = nets[: SIZES["family"]]  # one of each family
            ran = [r[1] for s in self.state["stages"] if s["name"] == "family" for r in s.get("runs", [])]
            nets = [n for n in nets if not any(all(r.get(k) == v for k, v in n.items()) for r in ran)]
            if not nets:
                return {}, base, [], "random"
            keys = [k for k in ("model", "depth", "width") if k not in self.fixed]
            params = {k: {"values": sorted({n[k] for n in nets}, key=str)} for k in keys}
            return params, base, [{k: n[k] for k in keys} for n in nets], "random"
        if choice == "regularize":
            params = {
                "weight_decay": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1e-2},
                "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
            }
            if image:  # augmentations only where the data kind has them (a small shift and rotation)
                params.update(aug_translate={"values": [0.0, 0.05, 0.1]}, aug_rotate={"values": [0, 5, 10]})
{%- if cookiecutter.tables %}
            elif len(shape) == 2 and ordered(shape):  # ordered table columns: the sequences' own (shift, jitter)
                params.update(seq_shift={"values": [0.0, 0.1, 0.25]}, seq_jitter={"values": [0.0, 0.1, 0.2]})
{%- endif %}
            return params, base, [], "bayes"
        params = {  # the second tier; an optimizer change is followed by a narrow ε0 search, as a network change
            "momentum": {"distribution": "uniform", "min": 0.8, "max": 0.99},
            "optimizer": {"values": ["adam", "adamw", "rmsprop"]},  # ε0's scale is alike for these; SGD's is not
            "batch_size": {"values": [32, 64, 128, 256]},
        }
        return params, base, [], "bayes"

    # --- the choice and the report -------------------------------------------------------------------------
    def finish(self, incumbent, noise: float, noise_runs: list, log: list, stop: str) -> int:
        """Configurations within the noise of the best on validation, repeated over seeds; the best mean wins
        and only its runs' test metric is read."""
        everything = sorted((r for rec, _, _ in log if rec for r in rec.get("runs", [])), key=lambda r: r[0])
        close = []
        for r in reversed(everything) if self.maximize else everything:
            if abs(r[0] - incumbent[0]) <= noise and not any(self.same(r[1], c[1]) for c in close):
                close.append(r)
        repeats = {}
        for i, c in enumerate(close[:3] or [incumbent]):
            if noise_runs and self.same(c[1], noise_runs[0][1]):
                repeats[i] = (c, noise_runs)
            elif i == 0 or self.affordable(self.a.seeds, 0, share=False) >= self.a.seeds:
                repeats[i] = (c, self.repeat(c[1], f"repeat{i}", "a near-tie on validation, repeated over seeds"))
        scored = [(statistics.mean(v for v, _, _ in runs), i) for i, (_, runs) in repeats.items() if runs]
        if not scored:
            raise SweepError(f"the winner's repeats all failed; see the logs in {self.out}")
        mean_val, i = (max if self.maximize else min)(scored)
        winner, runs = repeats[i]
        test_name = "test/" + self.monitor.split("/", 1)[-1]
        tests = [v for v in (test_value(r[2], test_name) for r in runs) if v is not None]
        return self.write(winner, mean_val, tests, test_name, noise, log, stop)

    def same(self, a: dict, b: dict) -> bool:
        return {k: v for k, v in a.items() if k != "seed"} == {k: v for k, v in b.items() if k != "seed"}

    def write(self, winner, mean_val, tests, test_name, noise, log, stop) -> int:
        flags = {k: v for k, v in winner[1].items() if k != "seed"}
        best_yaml = self.out / "best.yaml"
        write_atomically(best_yaml, yaml.safe_dump(flags, sort_keys=False, allow_unicode=True))
        args = " ".join(a for a in self.train_args)
        command = f"python {self.a.program} --config {best_yaml} {args}".strip()
        inline = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in flags.items())
        command_line = f"python {self.a.program} {inline} {args}".strip()
        sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
        figure = f"{test_name} = {statistics.mean(tests):.4f} ± {sd:.4f} over {len(tests)} seeds" if tests else "none"
        budget = f"{self.a.trials} trials" if self.a.trials else f"{self.a.epochs} epochs"
        lines = [
            "# sweeps tune",
            "",
            f"Budget {budget}: spent {self.spent()}. Noise ({self.monitor}, sd of the ε0 stage's best and its "
            f"repeats on {self.a.seeds} seeds, study {self.a.study}-01-noise): {noise:.4f}. "
            f"Ended: {stop or 'after the last stage'}.",
            "",
        ]
        plots = self.plots()
        for record, gain, best in log:
            lines += [f"## {record['name']}", "", f"Why: {record['why']}.", ""]
            if record.get("searched"):
                lines.append(f"Searched: {', '.join(record['searched'])} ({len(record.get('runs', []))} runs).")
            if best is not None:
                gained = f", gain {gain:+.4f} over the incumbent" if gain is not None else ""
                lines.append(f"Best {self.monitor} = {best[0]:.4f} ({best[2]}){gained}.")
            if record.get("study") in plots:
                lines.append(f"Plots: {plots[record['study']]}")
            lines.append("")
        lines += [
            "## Winner",
            "",
            f"Validation {self.monitor}: {mean_val:.4f} (mean over its seeds); held-out test, read once for the "
            f"winner only: **{figure}**.",
            "",
            f"Config: `{best_yaml}`",
            "",
            f"    {command}",
            f"    {command_line}",
            "",
        ]
        report = self.out / "report.md"
        write_atomically(report, "\n".join(lines))
        self.state.update(winner=flags, val=mean_val, test=tests, test_metric=test_name, command=command_line)
        self.save()
        print(f"tune: winner {command_line}")
        print(f"tune: {figure}; wrote {report}, {best_yaml}")
        self.log_to_wandb(winner[2], report, best_yaml)
        return 0

    def plots(self) -> dict:
        """The `sweeps report` of each stage (the diagnostics feature), when it is in this project."""
        try:
            from ..analysis.report import report
        except ImportError:
            return {}
        found = {}
        for s in self.state["stages"]:
            try:
                path, _ = report(f"optuna:{self.url}#{s['study']}", Path(s["file"]), self.out / "plots" / s["study"])
                found[s["study"]] = str(path)
            except Exception as e:  # noqa: BLE001 - a stage too small to plot: the report still goes on
                print(f"tune: no plots for {s['study']} ({str(e)[:120]})", file=sys.stderr)
        return found

    def log_to_wandb(self, run_dir: str, report: Path, best_yaml: Path) -> None:
        results = _json(Path(run_dir) / "results.json")
        if results.get("wandb_mode") in (None, "disabled"):
            return
        try:
            import wandb

            project = _yaml(Path(run_dir) / "config.yaml").get("wandb_project")
            group = next((a.split("=", 1)[-1] for a in self.train_args if a.startswith("--wandb-group=")), None)
            if group is None:
                group = self.train_args[self.train_args.index("--wandb-group") + 1]
            run = wandb.init(
                project=project, group=group, job_type="tune", mode=results["wandb_mode"], dir=str(self.out)
            )
            run.log({"tune/report": wandb.Html(f"<pre>{report.read_text()}</pre>")})
            run.save(str(best_yaml), base_path=str(self.out), policy="now")
            run.finish()
        except Exception as e:  # noqa: BLE001 - the tune is done and saved: W&B only mirrors it
            print(f"warning: the report was not logged to W&B ({str(e)[:160]})", file=sys.stderr)


def ListSampler(candidates: list[dict], seed: int):
    import optuna

    class Listed(optuna.samplers.RandomSampler):
        """Each trial takes the first candidate that no other trial (finished or running) holds."""

        def sample_independent(self, study, trial, name, distribution):
            taken = [
                t.params
                for t in study.get_trials(deepcopy=False)
                if t.number != trial.number and t.state.name in ("COMPLETE", "PRUNED", "RUNNING")
            ]
            for c in candidates:
                if c not in taken and all(c.get(k) == v for k, v in trial.params.items()):
                    return c[name]
            return super().sample_independent(study, trial, name, distribution)

    return Listed(seed=seed)


class Stopped(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def monitor_guess(fixed) -> tuple[str, bool]:
    """The metric the runs will monitor, before any ran: the first task's kind as the dataset declares it
    (datasets.py), or regression when --task-types says so (val/rmse, minimized); else val/acc."""
    from ..data.tasks import DEFAULT_KIND, TASK_KINDS
    from ..datasets import DATASETS

    spec = DATASETS.get(getattr(fixed, "dataset", None))
    declared = {t.name: t.kind for t in spec.tasks} if spec is not None else {}
    names = list(getattr(fixed, "tasks", None) or declared)
    kind = declared.get(names[0], DEFAULT_KIND) if names else DEFAULT_KIND
    types = [str(t).rpartition(":")[2] for t in getattr(fixed, "task_types", None) or []]
    kind = "regression" if types[:1] == ["regression"] else kind
    return f"val/{TASK_KINDS[kind].monitor}", TASK_KINDS[kind].mode == "max"


def test_value(run_dir: str, name: str) -> float | None:
    """The held-out test metric of one of the winner's runs: the only place tune reads a test figure."""
    value = _json(Path(run_dir) / "results.json").get(name)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def ordered(shape: list) -> bool:
    """Data a network can read in order: images' rows (C,H,W) or a table's --input-shape C,L steps, 4 or more."""
    return len(shape) in (2, 3) and shape[1] >= 4


def capacity_candidates(hp: dict, base: dict, fixed: set) -> list[dict]:
    """Networks to try, nearest first: the other families the data's shape allows (rnn reads rows, cnn needs a
    map), then deeper and wider, within max(PARAM_BUDGET, 8× the incumbent's parameters)."""
    from ..networks import MODELS

    model, depth = base.get("model", hp.get("model", "mlp")), base.get("depth", hp.get("depth", 2))
    width = base.get("width", hp.get("width"))
    shape = hp.get("input_shape") or []
    families = ["mlp"] + (["rnn", "cnn"] if ordered(shape) else [])
    if "model" in fixed or model not in families:
        families = [model]
    if not isinstance(width, int):
        width = MODELS[model].defaults.get("width", 256) if model in MODELS else 256
    own = count_parameters(hp, model, depth, width)
    limit = max(PARAM_BUDGET, 8 * own) if own and own < UNBUILT else PARAM_BUDGET
    wanted = [(f, 2, MODELS[f].defaults.get("width", 64)) for f in families if f != model]
    wanted += [(model, depth + 1, width), (model, depth, width * 2), (model, depth + 1, width * 2)]
    wanted += [(f, 1, MODELS[f].defaults.get("width", 64)) for f in families if f != model]
    wanted += [(model, depth, max(8, width // 2)), (model, max(1, depth - 1), width * 2)]
    out = []
    for f, d, w in wanted:
        d = min(d, DEPTHS.get(f, (d,))[-1])
        entry = {"model": f, "depth": d, "width": w}
        if "depth" in fixed:
            entry["depth"] = depth
        if "width" in fixed:
            entry["width"] = width
        if (f, entry["depth"], entry["width"]) == (model, depth, width) or entry in out:
            continue
        n = count_parameters(hp, f, entry["depth"], entry["width"])
        if n is None or n <= limit:
            out.append(entry)
    return out[: SIZES["capacity"]]


def count_parameters(hp: dict, model: str, depth: int, width: int) -> int | None:
    """The parameters of the incumbent's network with another family, depth or width (None: no hparams.yaml)."""
    if not hp.get("input_shape"):
        return None
    try:
        from ..models.build import network_from_hparams
        from ..networks import MODELS

        hp = {**hp, "model": model, "depth": depth, "width": width}
        net = network_from_hparams(hp, MODELS{% if cookiecutter.backbones %}, load_weights=False{% endif %})  # no download
        return sum(p.numel() for p in net.parameters())
    except Exception:  # noqa: BLE001 - a network this data cannot take (too deep for the map): not a candidate
        return UNBUILT


def _json(path: Path) -> dict:
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _yaml(path: Path) -> dict:
    try:
        value = yaml.safe_load(Path(path).read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return value if isinstance(value, dict) else {}
