"""The report of one sweep stage: per searched hyperparameter an isolation plot (the best metric per bucket of its
values, the best over every other searched one: the tuning playbook's fair comparison) over a scatter of every run, and
one Markdown report: the share of diverged/failed/pruned runs and where they sit, the edge warning, the divergent-ε0
warning, the top runs, and repeated seeds. matplotlib draws (Agg, files only)."""

import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SweepError
from ..files import atomic_path, write_atomically
from ..training.monitor import MODE, MONITOR
from .sources import (
    OPTUNA_PREFIX,
    STATES,
    Dimension,
    Trial,
    local_trials,
    optuna_trials,
    sweep_dimensions,
    varied_dimensions,
)

BUCKETS = 10  # buckets per numeric range (a decade each on the 5-decade stage-1 ε0 range ×2)
EDGE = 0.1  # the "outer tenth of a searched range" (of its log for log-distributed ones)
DIVERGENCE_NEIGHBOUR = 3.0  # a diverged ε0 within 3× (half a decade) above the best one is "next to" it
TOP = 10  # rows of the top runs table
REPEAT_FILE = "repeat.md"  # written by `sweeps repeat` into the repeated run's directory


@dataclass
class Isolation:
    """Per bucket: its label, centre (numeric) and the best metric of the ok runs in it (None: empty)."""

    labels: list[str]
    centres: list[float | None]
    best: list[float | None]

    def argmax(self, maximize: bool = True) -> int:
        filled = [i for i, v in enumerate(self.best) if v is not None]
        return (max if maximize else min)(filled, key=lambda i: self.best[i])


def scaled(dim: Dimension, x: float) -> float:
    """x's position in [0, 1] along the range (on the log scale for log-distributed ones)."""
    if dim.log:
        return (math.log(x) - math.log(dim.low)) / (math.log(dim.high) - math.log(dim.low))
    return (x - dim.low) / (dim.high - dim.low) if dim.high > dim.low else 0.5


def bucket_of(dim: Dimension, x) -> int | None:
    if dim.choices is not None:
        return choice_index(dim, x)
    if not isinstance(x, (int, float)) or (dim.log and x <= 0):
        return None
    return min(BUCKETS - 1, max(0, int(scaled(dim, x) * BUCKETS)))


def choice_index(dim: Dimension, x) -> int | None:
    """x's place among the choices (varied_dimensions lists non-numbers by their repr)."""
    for key in (x, repr(x)):
        if key in dim.choices:
            return dim.choices.index(key)
    return None


def isolation(dim: Dimension, trials: list[Trial], maximize: bool = True) -> Isolation:
    if dim.choices is not None:
        labels, centres = [str(c) for c in dim.choices], [c if dim.numeric else None for c in dim.choices]
    else:
        edges = [_unscaled(dim, i / BUCKETS) for i in range(BUCKETS + 1)]
        labels = [f"{a:.3g}–{b:.3g}" for a, b in zip(edges, edges[1:])]
        centres = [_unscaled(dim, (i + 0.5) / BUCKETS) for i in range(BUCKETS)]
    best: list[float | None] = [None] * len(labels)
    pick = max if maximize else min
    for t in trials:
        b = bucket_of(dim, t.params.get(dim.name))
        if t.state == "ok" and b is not None:
            best[b] = t.value if best[b] is None else pick(best[b], t.value)
    return Isolation(labels, centres, best)


def _unscaled(dim: Dimension, s: float) -> float:
    if dim.log:
        return math.exp(math.log(dim.low) + s * (math.log(dim.high) - math.log(dim.low)))
    return dim.low + s * (dim.high - dim.low)


def edge_warning(dim: Dimension, best: Trial) -> str | None:
    x = best.params.get(dim.name)
    if not dim.numeric or not isinstance(x, (int, float)) or dim.high <= dim.low:
        return None
    if dim.choices is not None:
        at_edge = len(dim.choices) >= 3 and x in (dim.choices[0], dim.choices[-1])
    else:
        at_edge = not EDGE <= scaled(dim, x) <= 1 - EDGE
    if not at_edge:
        return None
    side = "upper" if scaled(dim, x) > 0.5 else "lower"
    return (
        f"edge: the best {dim.name} = {x:.4g} lies in the outer tenth of the searched range "
        f"[{dim.low:.4g}, {dim.high:.4g}] ({side} end): widen the range past it and search again"
    )


def divergence_warning(trials: list[Trial], best: Trial, name: str = "lr") -> str | None:
    """The best ε0 next to the divergent region: a diverged run within DIVERGENCE_NEIGHBOUR× above it."""
    x = best.params.get(name)
    diverged = [t.params.get(name) for t in trials if t.state == "diverged" and isinstance(t.params.get(name), float)]
    above = [d for d in diverged if isinstance(x, (int, float)) and x > 0 and d >= x]
    if not above or min(above) > DIVERGENCE_NEIGHBOUR * x:
        return None
    return (
        f"divergence: the best {name} = {x:.4g} lies next to the divergent region (a run with {name} = "
        f"{min(above):.4g} diverged, {min(above) / x:.2g}× higher): a seed or a longer run may diverge there; "
        f"prefer a slightly lower {name}"
    )


def plot(dim: Dimension, iso: Isolation, trials: list[Trial], metric: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ok = [t for t in trials if t.state == "ok" and t.params.get(dim.name) is not None]
    position = (lambda v: v) if dim.numeric else (lambda v: choice_index(dim, v))
    ax.scatter([position(t.params[dim.name]) for t in ok], [t.value for t in ok], s=14, alpha=0.5, label="every run")
    bad = [t for t in trials if t.state != "ok" and t.params.get(dim.name) is not None]
    if bad and ok:
        floor = min(t.value for t in ok)
        ax.scatter(
            [position(t.params[dim.name]) for t in bad],
            [floor] * len(bad),
            marker="x",
            c="red",
            label="diverged / failed / pruned",
        )
    filled = [(c if dim.numeric else i, v) for i, (c, v) in enumerate(zip(iso.centres, iso.best)) if v is not None]
    if filled:
        ax.plot(*zip(*filled), "o-", c="black", label="best per bucket (over the other parameters)")
    if dim.log:
        ax.set_xscale("log")
    if not dim.numeric:
        ax.set_xticks(range(len(dim.choices)), dim.choices, rotation=30)
    ax.set_xlabel(dim.name)
    ax.set_ylabel(metric)
    ax.set_title(f"isolation plot: {dim.name}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


def failures(dims: list[Dimension], trials: list[Trial]) -> list[str]:
    """One line per state other than ok: its share, and the range of each numeric parameter it sits in."""
    lines = []
    for state in STATES[1:]:
        those = [t for t in trials if t.state == state]
        if not those:
            lines.append(f"- {state}: 0 of {len(trials)}")
            continue
        where = []
        for d in dims:
            values = [t.params.get(d.name) for t in those if isinstance(t.params.get(d.name), (int, float))]
            if d.numeric and values:
                where.append(f"{d.name} in [{min(values):.4g}, {max(values):.4g}]")
        share = len(those) / len(trials)
        lines.append(
            f"- {state}: {len(those)} of {len(trials)} ({share:.0%}){': ' + ', '.join(where) if where else ''}"
        )
    return lines


def top_table(dims: list[Dimension], trials: list[Trial], metric: str, maximize: bool) -> list[str]:
    ok = sorted((t for t in trials if t.state == "ok"), key=lambda t: t.value, reverse=maximize)[:TOP]
    head = ["rank", *(d.name for d in dims), metric, "epochs", "run"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, t in enumerate(ok, 1):
        values = [_shown(t.params.get(d.name)) for d in dims]
        rows.append(
            "| " + " | ".join([str(i), *values, f"{t.value:.4f}", str(t.epochs or ""), t.run_dir or t.name]) + " |"
        )
    return rows


def _shown(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_report(
    source: str,
    trials: list[Trial],
    dims: list[Dimension],
    metric: str,
    maximize: bool,
    out: Path,
    repeats: list[Path] = (),
) -> tuple[Path, list[str]]:
    """report.md and <parameter>.png in `out`; returns (the report, its warnings)."""
    out.mkdir(parents=True, exist_ok=True)
    ok = [t for t in trials if t.state == "ok"]
    lines = [f"# Sweep report: {source}", "", f"{len(trials)} runs, {len(ok)} finished with {metric}.", ""]
    warnings: list[str] = []
    best = (max if maximize else min)(ok, key=lambda t: t.value) if ok else None
    if best is not None:
        lines += [f"Best: {best.run_dir or best.name} ({metric} = {best.value:.4f}).", ""]
        warnings += [w for d in dims if (w := edge_warning(d, best))]
        if any(d.name == "lr" for d in dims) and (w := divergence_warning(trials, best)):
            warnings.append(w)
    lines += ["## Warnings", "", *(f"- {w}" for w in warnings or ["none"]), ""]
    lines += ["## Diverged, failed and pruned runs", "", *failures(dims, trials), ""]
    lines += ["## Isolation plots", ""]
    for d in dims:
        iso = isolation(d, trials, maximize)
        name = re.sub(r"[^\w.=-]", "_", d.name).lstrip(".")[:100] or "_"  # a key is never a path: `../x`, `a/b`
        png = plot(d, iso, trials, metric, out / f"{name}.png")
        peak = iso.labels[iso.argmax(maximize)] if any(v is not None for v in iso.best) else "no finished run"
        scale = "log" if d.log else "linear" if d.numeric else "categorical"
        lines += [f"### {d.name} ({scale})", "", f"![{d.name}]({png.name})", "", f"Best bucket: {peak}.", ""]
    lines += ["## Top runs", "", *top_table(dims, trials, metric, maximize), ""]
    if repeats:
        lines += ["## Repeated seeds", ""]
        for r in repeats:
            lines += [r.read_text().strip(), ""]
    report = out / "report.md"
    write_atomically(report, "\n".join(lines))
    return report, warnings


def report(source: str, sweep: Path | None = None, output: Path | None = None) -> tuple[Path, list[str]]:
    """Write the report; returns (report.md, its warnings)."""
    if source.startswith(OPTUNA_PREFIX):
        trials, dims, maximize = optuna_trials(source)
        repeats: list[Path] = []
        output = output or Path(f"report-{source.rpartition('#')[2]}")
    else:
        root = Path(source)
        trials, maximize = local_trials(root, MONITOR), MODE == "max"
        dims = []
        repeats = sorted(root.glob(f"*/{REPEAT_FILE}")) + sorted(root.glob(REPEAT_FILE))
        output = output or (root / "report")
    if sweep is not None:
        dims = sweep_dimensions(sweep)
    elif not dims:
        dims = varied_dimensions(trials)
    if not dims:
        raise SweepError("the runs do not differ in any hyperparameter: nothing to compare (give --sweep FILE.yaml)")
    return write_report(source, trials, dims, MONITOR, maximize, output, repeats)
