"""Train and test one network: parse the flags, build, fit, test. `python train.py --help`."""

import sys

from {{cookiecutter.project_slug}}.cli import parse_args


def main() -> int:
    args = parse_args()  # bad input exits 2 here, before torch is imported or a file is written
    if args.test_only:  # test a checkpoint, no training
        from {{cookiecutter.project_slug}}.evaluate import test_only as run
    else:
        from {{cookiecutter.project_slug}}.run import main as run

    try:
        return run(args)
    except KeyboardInterrupt:  # Ctrl-C before or after training (during it, run() saves and returns 130)
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
