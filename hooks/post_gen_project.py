"""Print the next steps once the project is written."""

import os

print(
    f"""
Created {os.getcwd()}

Next steps:
  cd {os.path.basename(os.getcwd())}
  python -m venv .venv && . .venv/bin/activate
  pip install -e '.[dev]'
  python train.py            # trains on the embedded digits data; W&B offline without credentials
  python train.py --help     # every checklist hyperparameter, grouped by section
  pytest                     # the project's own tests
"""
)
