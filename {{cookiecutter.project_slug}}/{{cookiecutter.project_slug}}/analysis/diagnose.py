"""The diagnosis of one run directory: its files (config.yaml, results.json, metrics.csv) and its
siblings under the same --output-dir → the rules' findings → diagnosis.json (atomically) and at most
5 printed lines. The unit statistics (units.py, torch) come from the caller."""

import json
from pathlib import Path

from ..errors import UsageError
from ..files import read_text, read_yaml, write_atomically
from .curves import read_curves
from .rules import RunFacts, findings, train_error

FILE = "diagnosis.json"
MAX_LINES = 5
MAX_SIBLINGS = 200  # siblings read for the reference training error (their metrics.csv)
# A sibling is compared only when it trained on the same data for as long (a 1-epoch run against a 20-epoch one
# is no evidence of capacity).
COMPARABLE = ("dataset", "data_dir", "target", "val_fraction", "max_epochs", "max_steps", "limit_train_batches")


def read_json(path: Path) -> dict | None:
    try:  # files.read_text: no FIFO, binary or non-UTF-8 file; RecursionError: nested too deeply
        value = json.loads(read_text(path))
    except (UsageError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def read_config(run_dir: Path) -> dict:
    try:  # files.read_yaml: {} for a file that is not a readable mapping (a damaged run is skipped, never fatal)
        return read_yaml(Path(run_dir) / "config.yaml")
    except UsageError:
        return {}


def sibling_error(run_dir: Path, config: dict) -> tuple[float | None, str]:
    """The lowest final training error of the other finished runs under the same parent that trained on the
    same data for as long (COMPARABLE)."""
    best, where, dataset = None, "", config.get("dataset")
    siblings = sorted(p for p in Path(run_dir).parent.iterdir() if p.is_dir() and p != Path(run_dir))
    for d in siblings[:MAX_SIBLINGS]:
        other = read_config(d)
        if not (d / "results.json").is_file() or any(other.get(k) != config.get(k) for k in COMPARABLE):
            continue
        try:
            error = train_error(RunFacts(read_curves(d / "metrics.csv"), {}))
        except UsageError:  # a damaged sibling is no reference; it never stops this run's diagnosis
            continue
        if error is not None and (best is None or error < best):
            best, where = error, d.name
    return best, f"the best sibling run on {dataset} ({where})" if where else ""


def facts(run_dir: Path, monitor: str, maximize: bool, units: dict | None = None) -> RunFacts:
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    target = config.get("target_error")
    if target is not None:
        reference, source = float(target), f"--target-error {target:g}"
    else:
        reference, source = sibling_error(run_dir, config)
    return RunFacts(
        curves=read_curves(run_dir / "metrics.csv"),
        config=config,
        results=read_json(run_dir / "results.json"),
        units=units,
        reference_error=reference,
        reference_source=source,
        monitor=monitor,
        maximize=maximize,
    )


def diagnose(run_dir: Path, monitor: str, maximize: bool = True, units: dict | None = None) -> dict:
    """The diagnosis of `run_dir`, written to its diagnosis.json; returns what was written."""
    f = facts(run_dir, monitor, maximize, units)
    found = findings(f)
    diagnosis = {
        "run_dir": str(run_dir),
        "finished": f.results is not None,
        "units": units,
        "findings": [x.as_dict() for x in found],
    }
    write_atomically(Path(run_dir) / FILE, json.dumps(diagnosis, indent=2, ensure_ascii=False) + "\n")
    return diagnosis


def summary_lines(diagnosis: dict, max_lines: int = MAX_LINES) -> list[str]:
    """At most `max_lines` lines: one per finding, most severe first within the checklist's order kept."""
    found = diagnosis["findings"]
    if not found:
        return ["diagnosis: no finding (diagnosis.json)"]
    lines = [f"diagnosis: {x['severity']} {x['id']}: {x['evidence']} → try {x['flags'][0]}" for x in found]
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [f"diagnosis: {len(found) - max_lines + 1} more in diagnosis.json"]
    return lines
