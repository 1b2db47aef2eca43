"""A stand-in for train.py in the engine's bookkeeping tests (a real trial costs seconds of torch
import): it checks its flags with train.py's own parser (torch-free), claims its run directory as
train.py does (a second run with one name fails), records its argv, and writes results.json with a
val/acc that depends on the flags and locks its run directory as train.py does. FAKE_SLEEP_ONCE=PATH: the first
trial sleeps (to be killed); FAKE_SLEEP_AFTER_ONCE=PATH: the first trial sleeps after writing results.json."""

import fcntl
import json
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
once = os.environ.get("FAKE_SLEEP_ONCE")
if once and not Path(once).exists():
    Path(once).write_text("slept")
    time.sleep(120)
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
(run_dir / "argv.json").write_text(json.dumps(sys.argv[1:]))
(run_dir / "config.yaml").write_text(yaml.safe_dump(config_dict(args), sort_keys=False))
value = 1 / (1 + abs(args.lr - 0.01)) + 0.001 * args.width
(run_dir / "results.json").write_text(json.dumps({"val/acc": value}))
with open(Path(args.output_dir) / "ran.log", "a") as log:
    log.write(f"{args.run_name} finished\n")
after = os.environ.get("FAKE_SLEEP_AFTER_ONCE")
if after and not Path(after).exists():
    Path(after).write_text("slept")
    time.sleep(120)
