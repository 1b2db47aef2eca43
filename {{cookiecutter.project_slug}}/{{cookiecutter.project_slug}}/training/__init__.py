"""Training: the LightningModule, objectives, metrics, optimizers and schedules, callbacks, loggers,
the Trainer, the run directory and the tuning tools."""
