"""Export a trained network: `python export.py runs/<run>/checkpoints/best.ckpt --format onnx`."""

import sys

from {{cookiecutter.project_slug}}.commands.export import main

if __name__ == "__main__":
    sys.exit(main())
