"""An Optuna storage from its URL, the same in the runner and in each trial's process: an RDB URL
(sqlite:///path.db, postgresql+psycopg2://user@host/db, mysql+pymysql://...) or journal:PATH (Optuna's
journal file, for a shared file system without a database server)."""

import random
import time

JOURNAL = "journal:"
TRIES = 10  # runners started together on a fresh database race to create its tables


def open_storage(url: str, heartbeat: int | None = None, on_stale=None):
    """With `heartbeat` (seconds), an RDB storage takes the runner's heartbeats for its running trials; a
    trial whose runner stopped beating for that long is stale (Optuna's heartbeat_interval and grace_period),
    and `on_stale()` (a RetryHeartbeatStaleTrialCallback) asks it again. Journal files have no heartbeats."""
    import warnings

    import optuna
    import sqlalchemy.exc

    # Heartbeats are marked experimental (since Optuna 2.9) and meant for optimize(); the runner asks
    # and tells itself and records the heartbeats (engine.py), so the warnings say nothing to a user.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url[len(JOURNAL) :]))
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    beats = {"heartbeat_interval": heartbeat, "grace_period": heartbeat}
    beats["heartbeat_stale_trial_callback"] = on_stale and on_stale()
    for attempt in range(TRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, **(beats if heartbeat else {}))
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as e:
            # PostgreSQL: two CREATE TABLEs at once (pg_type_typname_nsp_index), or a table created meanwhile:
            # the other runner's schema is there (or nearly), so open again
            if attempt == TRIES - 1 or not any(w in str(e) for w in ("already exists", "duplicate key")):
                raise
            time.sleep(random.uniform(0.05, 0.5))
