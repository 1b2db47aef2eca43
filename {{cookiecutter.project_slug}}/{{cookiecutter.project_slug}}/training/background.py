"""W&B off the training path (the fast_wandb feature): Lightning's WandbLogger with wandb's work moved
off the training loop. wandb.init (seconds: it starts wandb's service) and every call after it (a
per-step log costs about as much as a small network's step; plots cost matplotlib's time) run in order
on one background thread while training goes on. flush() waits for all of it; finalize() (end of
fit/test) and loggers.finish_wandb() call it, so everything reaches the run before it finishes.
Hand-written: neither Lightning nor wandb has a non-blocking logger{% if cookiecutter.benchmarks %};
benchmarks/bench_wandb.py measures it against the plain SweepWandbLogger{% endif %}."""

import queue
import sys
import threading

from lightning.pytorch.utilities import rank_zero_only

from . import loggers
from .loggers import SweepWandbLogger


def attach() -> None:
    """Every run's W&B logger is this one (features.py calls it once, after parsing)."""
    loggers.WANDB_LOGGER = BackgroundWandbLogger


class BackgroundWandbLogger(SweepWandbLogger):
    """SweepWandbLogger whose W&B work (wandb.init and every call after it) runs in order on one thread."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_lock = threading.RLock()
        self._calls: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self._warned = False

    @property
    def experiment(self):
        if self._experiment is not None or self._worker is None or threading.current_thread() is self._worker:
            with self._init_lock:  # wandb.init once, whichever thread asks first
                return super().experiment
        # wandb.init is still running on the logger's thread. Lightning touches `experiment` when fit
        # and test set up; waiting there would put wandb's start-up back on the training path, so
        # hand out a stand-in that waits only when it is used.
        return _Pending(self)

    def run(self):
        """The wandb Run, once wandb.init has finished (waits for it)."""
        with self._init_lock:
            return super().experiment

    def __getstate__(self) -> dict:
        # ddp_spawn pickles the loggers: send what was queued, then leave the thread objects behind.
        self.flush()
        state = super().__getstate__()
        for key in ("_init_lock", "_calls", "_worker"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_lock, self._calls, self._worker = threading.RLock(), queue.Queue(), None

    def start(self) -> None:
        """Start wandb.init in the background; calls made meanwhile wait in the queue."""
        if self._worker is None and rank_zero_only.rank == 0:
            self._worker = threading.Thread(target=self._work, name="wandb-logger", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        try:
            self.experiment  # noqa: B018 - wandb.init
        except Exception as e:  # noqa: BLE001 - W&B must never stop training: metrics.csv has it all
            self.failure = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
        while True:
            fn, args, kwargs = self._calls.get()
            try:
                if self.failure is None:
                    fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001
                self.failure = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            finally:
                self._calls.task_done()

    def _later(self, fn, *args, **kwargs) -> None:
        self.start()
        self._calls.put((fn, args, kwargs))

    def call(self, fn, *args, **kwargs) -> None:
        """Run fn (a plot to draw and log, say) on the logger's thread, after what came before."""
        self._later(fn, *args, **kwargs)

    def flush(self) -> None:
        if self._worker is not None:
            self._calls.join()
        if self.failure and not self._warned:
            print(f"warning: W&B failed ({self.failure}); the run's metrics are in metrics.csv", file=sys.stderr)
            self._warned = True

    @rank_zero_only
    def log_metrics(self, metrics, step=None) -> None:
        # Values become floats here: tensors could change (or be on a GPU) by the time they are sent.
        values = {k: v.item() if hasattr(v, "item") else v for k, v in metrics.items()}
        self._later(super().log_metrics, values, step)

    @rank_zero_only
    def log_hyperparams(self, params) -> None:
        self._later(super().log_hyperparams, params)

    @rank_zero_only
    def log_table(self, *args, **kwargs) -> None:
        self._later(super().log_table, *args, **kwargs)

    @rank_zero_only
    def log_image(self, *args, **kwargs) -> None:
        self._later(super().log_image, *args, **kwargs)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.flush()
        super().finalize(status)


class _Pending:
    """Stands for the wandb Run until wandb.init has finished; any use waits for it."""

    def __init__(self, logger):
        self._logger = logger

    def __getattr__(self, name: str):
        return getattr(self._logger.run(), name)
