"""`sweeps report` (analysis/report.py's report) and `sweeps repeat` (commands/repeat.py): their command lines.
commands/sweeps.py builds the parser and dispatches."""

from pathlib import Path

from ..errors import SweepError


def add_report_and_repeat(commands) -> None:
    """`report` (analysis/report.py) and `repeat` (commands/repeat.py)."""
    rep = commands.add_parser("report", help="isolation plots and a Markdown report of one stage's runs")
    rep.add_argument(
        "source",
        metavar="SOURCE",
        help="a directory of run directories (results.json, config.yaml, metrics.csv) or optuna:<storage>#<study>",
    )
    rep.add_argument(
        "--sweep",
        type=Path,
        metavar="SWEEP.yaml",
        help="the stage's sweep file: its searched ranges and scales "
        "(default: the values the runs vary, log scale when they span two decades or more)",
    )
    rep.add_argument(
        "--output", type=Path, metavar="DIR", help="where report.md and the PNGs go (default: SOURCE/report)"
    )
    again = commands.add_parser("repeat", help="re-run a run's configuration on N seeds: mean ± standard deviation")
    again.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run to repeat (its config.yaml)")
    again.add_argument("--seeds", type=int, required=True, metavar="N", help="how many new seeds")
    again.add_argument("--workers", type=int, default=1, metavar="K", help="train.py processes at once (default: 1)")
    again.add_argument(
        "extra", nargs="*", metavar="FLAG", help="after --: flags every seed's run adds (--max-epochs 5)"
    )


def report_or_repeat(args) -> int:
    """The exit status of `report` or `repeat` (their messages printed)."""
    if args.command == "report":
        from ..analysis.report import report

        path, warnings = report(args.source, args.sweep, args.output)
        for w in warnings:
            print(f"warning: {w}")
        print(f"wrote {path}")
        return 0
    from .repeat import repeat, summary_line

    if args.seeds < 1 or args.workers < 1:
        raise SweepError(f"argument --seeds/--workers: must be at least 1 (got {args.seeds}, {args.workers})")
    summary = repeat(args.run_dir, args.seeds, args.workers, args.extra)
    print(f"{summary_line(summary)}; wrote {args.run_dir / 'repeat.md'}")
    return 0 if all(r["status"] == 0 for r in summary["runs"]) else 1
