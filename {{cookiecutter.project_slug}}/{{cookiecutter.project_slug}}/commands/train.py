"""`python train.py`: parse the flags (bad input exits 2 before torch is imported or a file is written),
then build the data, the module and the run's plan, and fit and test{% if cookiecutter.inference %} (or --test-only a checkpoint: evaluate.py){% endif %}."""

import argparse
import sys
from pathlib import Path

from ..config.agent import under_agent
from ..config.environment import is_rank_zero
from ..config.parser import parse_args
from ..errors import UsageError, guarded, refuse
from .options import build_datamodule, make_plan, resolved_config, trainer_view

PROG = "train.py"


@guarded(PROG)
def main(argv: list[str] | None = None) -> int:
    from ..training.signals import unblock_inherited, watch_sigterm

    if under_agent() and is_rank_zero():
        watch_sigterm()  # before any thread starts: a stop by the agent is told from a preemption
    elif not is_rank_zero():
        unblock_inherited()
    args = parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:  # Ctrl-C before or after training (during it, the run saves and returns 130)
        print("interrupted", file=sys.stderr)
        return 130


def run(a: argparse.Namespace) -> int:
{%- if cookiecutter.inference %}
    """The exit status of a run: training, or with --test-only the test of a checkpoint (evaluate.py)."""
    if a.test_only:
        from .evaluate import test_only

        return test_only(a)
{%- else %}
    """The exit status of a training run."""
{%- endif %}
    return train(a)[0]


def train(a: argparse.Namespace) -> tuple[int, Path | None]:
    """(exit status, run directory or None): bad input is refused before the run directory is made, or it is removed."""
    from ..features import attach
    from ..training.trainer import check_hardware, check_val_check_interval, quiet_lightning

    attach()  # the baked-in optional features' hooks (features.py)
    quiet_lightning(a.verbose)
    import lightning as L

    from ..training.build import allocate_module, check_batches, check_fits_checkpoint
    from ..training.fit import start
    from ..training.rundir import claim_run_directory, owned

    L.seed_everything(a.seed, workers=True, verbose=False)
    run_dir = None
    try:
        trainer_options = trainer_view(a)
        check_hardware(trainer_options)
        dm = build_datamodule(a)
        check_batches(dm, a.batch_size, a.val_fraction, a.limit_train_batches, a.limit_val_batches)
        check_val_check_interval(trainer_options, dm)
        if a.resume_ckpt:
            check_fits_checkpoint(a.resume_state["hparams"], dm, f"--resume: {a.resume_ckpt}")
        config = resolved_config(a, dm)
        module = allocate_module(config, dm, a.accelerator)
        plan = make_plan(a, config)
        run_dir = plan.run_dir
        created = claim_run_directory(run_dir, overwrite=a.overwrite, resuming=a.resume_ckpt is not None)
        with owned(run_dir, created):
            return start(plan, dm, module), run_dir
    except UsageError as e:
        status = refuse(PROG, e)
        return status, run_dir if run_dir is not None and run_dir.exists() else None
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()  # else gloo's threads can abort the process at exit
