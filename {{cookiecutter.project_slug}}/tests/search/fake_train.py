"""A stand-in for train.py in the engine's bookkeeping tests (a real trial costs seconds of torch
import): it checks its flags with train.py's own parser (torch-free), claims its run directory as
train.py does (a second run with one name fails), records its argv, and writes results.json with a
val/acc that depends on the flags and locks its run directory as train.py does. FAKE_SLEEP_ONCE=PATH: the first
trial sleeps (to be killed); FAKE_SLEEP_AFTER_ONCE=PATH: the first trial sleeps after writing results.json.
For `sweeps tune`: --find-lr prints a suggestion (FAKE_LR, default 0.01); FAKE_MODE=underfit gives a
training accuracy that grows with the network (rnn best), FAKE_MODE=overfit a train-validation gap that
regularization closes; FAKE_INPUT_SHAPE=C,H,W writes hparams.yaml with that input_shape;
metrics.csv holds train/acc and val/acc per epoch, results.json test/acc."""

import fcntl
import json
import math
import os
import sys
import time
from pathlib import Path

import yaml

from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args

args = parse_args(sys.argv[1:])
run_dir = Path(args.output_dir) / args.run_name
run_dir.mkdir(parents=True)  # exists already: the trial ran twice
lock = open(run_dir / ".lock", "a+")  # noqa: SIM115 - held for the life of the process, as train.py does
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
with open(Path(args.output_dir) / "ran.log", "a") as log:
    log.write(f"{args.run_name} started\n")
if args.find_lr:
    print(f"suggested ε0 (--lr): {float(os.environ.get('FAKE_LR', '0.01')):.3g}  (range test over 100 minibatches)")
    sys.exit(0)
once = os.environ.get("FAKE_SLEEP_ONCE")
if once and not Path(once).exists():
    Path(once).write_text("slept")
    time.sleep(120)
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
(run_dir / "argv.json").write_text(json.dumps(sys.argv[1:]))
(run_dir / "config.yaml").write_text(yaml.safe_dump(config_dict(args), sort_keys=False))
if os.environ.get("FAKE_INPUT_SHAPE"):  # the data's shape as train.py records it (what tune's family stage reads)
    shape = [int(n) for n in os.environ["FAKE_INPUT_SHAPE"].split(",")]
    hp = {**config_dict(args), "input_shape": shape, "task_classes": [4], "image_size": shape[-1]}
    hp.update(input_mean=[0.0] * shape[0], input_std=[1.0] * shape[0])  # a buildable network: its parameters count
    (run_dir / "hparams.yaml").write_text(yaml.safe_dump(hp))
mode, lr_fit = os.environ.get("FAKE_MODE"), 1 / (1 + abs(math.log10(args.lr / 0.01)))
noise = 0.001 * (args.seed % 3)
if mode == "underfit":  # the training error falls with capacity (an rnn fits best) and a good ε0
    capacity = 1.0 if args.model == "rnn" else min(1.0, args.depth * int(args.width) / 2048)
    train = 0.5 + 0.45 * lr_fit * capacity + noise
    value = train - 0.01
elif mode == "overfit":  # a gap that L2 and dropout close
    train, value = 0.99, 0.7 + 0.1 * lr_fit + 0.15 * min(1.0, args.weight_decay * 1e3 + args.dropout) + noise
else:
    value = 1 / (1 + abs(args.lr - 0.01)) + 0.001 * int(args.width)
    train = value
rows = ["epoch,step,train/acc,val/acc"] + [f"{e},{e},{train},{value}" for e in range(args.max_epochs)]
(run_dir / "metrics.csv").write_text("\n".join(rows) + "\n")
results = {"val/acc": value, "test/acc": value - 0.01, "epochs": args.max_epochs, "monitor": "val/acc"}
(run_dir / "results.json").write_text(json.dumps(results))
with open(Path(args.output_dir) / "ran.log", "a") as log:
    log.write(f"{args.run_name} finished\n")
after = os.environ.get("FAKE_SLEEP_AFTER_ONCE")
if after and not Path(after).exists():
    Path(after).write_text("slept")
    time.sleep(120)
