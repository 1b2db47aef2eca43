"""A run's curves from its metrics.csv: per column, the (step, epoch, value) rows where it was logged.
Only the standard library: the diagnosis of a finished run needs no torch."""

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..files import read_text


@dataclass
class Curves:
    """Per metric name, its points in logging order: (step, epoch, value)."""

    points: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)

    def values(self, name: str) -> list[float]:
        return [v for _, _, v in self.points.get(name, [])]

    def steps(self, name: str) -> list[int]:
        return [s for s, _, _ in self.points.get(name, [])]

    def per_epoch(self, name: str) -> dict[int, float]:
        """The last value logged in each epoch (epoch metrics are logged once per epoch)."""
        return {e: v for _, e, v in self.points.get(name, [])}

    def first_epoch(self, name: str) -> list[float]:
        """The values logged during the first epoch (per-step metrics such as train/loss)."""
        pts = self.points.get(name, [])
        return [v for _, e, v in pts if e == pts[0][1]] if pts else []


def read_curves(path: Path) -> Curves:
    """metrics.csv → Curves; a missing file gives empty curves. Rows written again after a resume
    (the same step twice) keep their latest value."""
    curves = Curves()
    if not Path(path).is_file():
        return curves
    try:  # files.read_text: no FIFO, binary or non-UTF-8 file
        rows = list(csv.DictReader(io.StringIO(read_text(path), newline="")))
    except csv.Error as e:  # a field over the csv module's limit, a NUL
        raise UsageError(f"{path}: not a CSV table of metrics ({e})") from None
    for row in rows:
        step, epoch = _number(row.get("step")), _number(row.get("epoch"))
        if step is None:
            continue
        for name, text in row.items():
            if name in ("step", "epoch") or text in (None, ""):
                continue
            value = _number(text)
            if value is not None:
                curves.points.setdefault(name, []).append((int(step), int(epoch or 0), value))
    return curves


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None
