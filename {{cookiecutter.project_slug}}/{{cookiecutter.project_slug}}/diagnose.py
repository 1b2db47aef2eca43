"""`python -m {{cookiecutter.project_slug}}.diagnose RUN_DIR`: what to tune next for a run (commands/diagnose.py)."""

import sys

from .commands.diagnose import main

if __name__ == "__main__":
    sys.exit(main())
