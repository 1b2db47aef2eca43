"""`python -m {{cookiecutter.project_slug}}.diagnose RUN_DIR`: what to tune next for a finished (or diverged) run,
in the checklist's order, from its own numbers; writes RUN_DIR/diagnosis.json and prints every finding.

The unit statistics need the run's data and checkpoint (best.ckpt, else last.ckpt): when either is
missing, the curves' rules still run and the units are left out (said on stderr)."""

import argparse
import json
import sys
from pathlib import Path

from ..config.parser import OneLineParser
from ..errors import RunDirectoryError, UsageError, guarded, refuse
from ..files import read_yaml

PROG = f"python -m {__package__.rpartition('.')[0]}.diagnose"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="What to tune next for a run, in the checklist's order.")
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory (metrics.csv, config.yaml)")
    parser.add_argument("--json", action="store_true", help="print diagnosis.json instead of one line per finding")
    parser.add_argument("--no-units", action="store_true", help="skip the unit statistics (no data or checkpoint read)")
    return parser


def units_of_run(run_dir: Path) -> dict | None:
    """The unit statistics of the run's checkpoint on a sample of its training data."""
    from ..analysis.run import units_of
    from ..training.module import load_module
    from .options import build_datamodule

    ckpt = next((p for p in (run_dir / "checkpoints" / n for n in ("best.ckpt", "last.ckpt")) if p.is_file()), None)
    if ckpt is None:
        print(f"{PROG}: no checkpoint in {run_dir / 'checkpoints'}: the units are not measured", file=sys.stderr)
        return None
    try:  # config.yaml: every flag's resolved value; one a newer or damaged run lacks or spells otherwise: no units
        config = read_yaml(run_dir / "config.yaml")
        return units_of(load_module(ckpt), build_datamodule(argparse.Namespace(**config)))
    except (UsageError, OSError, AttributeError, KeyError, TypeError, ValueError) as e:
        print(f"{PROG}: the units are not measured ({e})", file=sys.stderr)
        return None


@guarded(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run_dir = args.run_dir
    try:
        if not (run_dir / "metrics.csv").is_file() or not (run_dir / "config.yaml").is_file():
            raise RunDirectoryError(f"{run_dir} is not a run directory (no metrics.csv and config.yaml)")
        from ..analysis.diagnose import diagnose, read_json
        from ..training.monitor import MONITOR, monitor_named

        units = None if args.no_units else units_of_run(run_dir)
        results = read_json(run_dir / "results.json") or {}
        monitor = monitor_named(results.get("monitor", MONITOR))  # the run's own: val/rmse for regression
        diagnosis = diagnose(run_dir, monitor.name, monitor.mode == "max", units)
    except UsageError as e:
        return refuse(PROG, e)
    if args.json:
        print(json.dumps(diagnosis, indent=2, ensure_ascii=False))
        return 0
    for x in diagnosis["findings"]:
        print(f"{x['severity']:7} {x['id']} ({x['section']}): {x['evidence']}")
        print(f"        checklist: “{x['checklist']}”")
        print(f"        try: {'; '.join(x['flags'])}")
    print(f"{len(diagnosis['findings'])} finding(s); wrote {run_dir / 'diagnosis.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
