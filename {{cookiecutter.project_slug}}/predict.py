"""Predict with a trained checkpoint: `python predict.py runs/<run>/checkpoints/best.ckpt images/`."""

import sys

from {{cookiecutter.project_slug}}.commands.predict import main

if __name__ == "__main__":
    sys.exit(main())
