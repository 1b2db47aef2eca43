"""An Optuna storage from its URL, the same in the runner and in each trial's process: an RDB URL
(sqlite:///path.db, postgresql+psycopg2://user@host/db, mysql+pymysql://...) or journal:PATH (Optuna's
journal file, for a shared file system without a database server)."""

JOURNAL = "journal:"


def open_storage(url: str, heartbeat: float | None = None):
    """With `heartbeat` (seconds), an RDB storage records the runner's heartbeats for its running
    trials; a trial whose runner stopped beating for twice that is failed and re-asked by the next
    runner that looks (Optuna's RetryHeartbeatStaleTrialCallback). Journal files have no heartbeats."""
    import warnings

    import optuna

    # Heartbeats are marked experimental (since Optuna 2.9) and meant for optimize(); the runner asks
    # and tells itself and records the heartbeats (engine.py), so the warnings say nothing to a user.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url[len(JOURNAL) :]))
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if heartbeat is None:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine,
        heartbeat_interval=max(1, int(heartbeat)),
        grace_period=max(2, int(2 * heartbeat)),
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
    )
