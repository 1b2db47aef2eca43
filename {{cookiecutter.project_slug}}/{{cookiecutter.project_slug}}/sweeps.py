"""`python -m {{cookiecutter.project_slug}}.sweeps`: staged W&B sweeps (commands/sweeps.py)."""

import sys

from .commands.sweeps import main

if __name__ == "__main__":
    sys.exit(main())
