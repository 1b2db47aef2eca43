"""Train and test one network: parse the flags, build, fit, test. `python train.py --help`."""

import sys

from {{cookiecutter.project_slug}}.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
