"""`python -m {{cookiecutter.project_slug}}.prepare`: a registered dataset as LitData shards (commands/prepare.py)."""

import sys

from .commands.prepare import main

if __name__ == "__main__":
    sys.exit(main())
