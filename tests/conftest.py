"""The figures the template's tests measure (a bake's package lines, its suite's time) are printed in
the run's summary: the tests run in xdist workers (pytest.ini: -n auto), whose own output pytest
does not show, so each figure goes to one file that the main process prints at the end."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FIGURES = "CHECKLIST_TEMPLATE_FIGURES"  # the file's path, set once by the main process for its workers


def pytest_configure(config) -> None:
    if not hasattr(config, "workerinput"):  # the main process (or a run without workers)
        fd, path = tempfile.mkstemp(prefix="template-figures-", suffix=".txt")
        os.close(fd)
        os.environ[FIGURES] = path


def pytest_collection_modifyitems(config, items) -> None:
    """The long tests (marker slow: a bake's whole suite) first, so that no worker starts one when the others are
    done (a stable sort: every worker collects the same order, as xdist requires)."""
    longest = ("test_the_full_bake_passes_its_slow_tests", "test_the_first_command_installs")  # minutes each
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, not item.name.startswith(longest)))


def figure(line: str) -> None:
    """Record one measured figure for the run's summary."""
    with open(os.environ[FIGURES], "a") as f:
        f.write(line + "\n")


def pytest_terminal_summary(terminalreporter, config) -> None:
    if hasattr(config, "workerinput") or FIGURES not in os.environ:
        return
    path = Path(os.environ.pop(FIGURES))
    lines = sorted(path.read_text().splitlines()) if path.is_file() else []
    path.unlink(missing_ok=True)
    if lines:
        terminalreporter.section("figures: package lines and suite times per bake")
        for line in lines:
            terminalreporter.line(line)
