"""The LightningModule: one shared model_step for train/val/test, torchmetrics per split and task."""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics

from .init import initialize, set_output_bias
from .models import create_network
from .optim import create_optimizer, lambda_lr


class Classifier(L.LightningModule):
    """Keyword arguments are the resolved flags plus what the data determines (input_shape,
    task_names, task_classes, label_frequencies); all are saved as hyperparameters."""

    def __init__(self, **hparams):
        super().__init__()
        self.save_hyperparameters()
        hp = self.hparams
        self.net = create_network(
            hp.model, tuple(hp.input_shape), list(hp.task_classes), depth=hp.depth, width=hp.width,
            rnn_cell=hp.rnn_cell, activation=hp.activation, batchnorm=hp.batchnorm, bn_position=hp.bn_position,
            bn_momentum=hp.bn_momentum, bn_eps=hp.bn_eps, leaky_slope=hp.leaky_slope,
            maxout_pieces=hp.maxout_pieces,
        )
        initialize(self.net, hp.init, hp.init_variance, hp.bias_init)
        if hp.init != "torch-default" or hp.output_bias == "prior":
            set_output_bias(self.net.heads.outputs,
                            hp.label_frequencies if hp.output_bias == "prior" else None)
        self.metrics = torch.nn.ModuleDict({
            split: torch.nn.ModuleList(self._accuracy(c) for c in hp.task_classes)
            for split in ("train_", "val_", "test_")  # ModuleDict keys may not be "train"
        })

    @staticmethod
    def _accuracy(num_classes: int) -> torchmetrics.Metric:
        if num_classes == 2:
            return torchmetrics.classification.BinaryAccuracy()
        return torchmetrics.classification.MulticlassAccuracy(num_classes, average="micro")

    def configure_model(self) -> None:
        if self.hparams.compile:
            self.net = torch.compile(self.net)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net(x)

    @staticmethod
    def task_losses(outputs: list[torch.Tensor], y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per task: cross-entropy over C logits, or binary cross-entropy on one logit ([B] after squeeze)."""
        losses, logits_out = [], []
        for t, logits in enumerate(outputs):
            target = y[:, t]
            if logits.shape[1] == 1:  # binary head: σ(logit) = P(label = 1)
                logits = logits.squeeze(1)
                losses.append(F.binary_cross_entropy_with_logits(logits, target.float()))
            else:
                losses.append(F.cross_entropy(logits, target))
            logits_out.append(logits)
        return losses, logits_out

    def model_step(self, batch, split: str) -> torch.Tensor:
        x, y = batch  # x: [B, C, H, W], y: [B, T] one label per task
        names, weights = self.hparams.task_names, self.hparams.task_weights
        losses, outputs = self.task_losses(self(x), y)
        total = sum(w * loss for w, loss in zip(weights, losses))
        # Training losses per step (train/loss), evaluation losses averaged per epoch (val/loss).
        # The primary task keeps the plain names; with several tasks each also gets split/<task>/loss.
        log = {f"{split}/loss": losses[0].detach()}
        if len(names) > 1:
            log.update({f"{split}/{n}/loss": loss.detach() for n, loss in zip(names, losses)})
            log[f"{split}/total_loss"] = total.detach()
        if split == "train":
            self.log_step(log)
        else:
            self.log_dict(log, on_step=False, on_epoch=True, batch_size=len(x))
        for logits, metric, target in zip(outputs, self.metrics[split + "_"], y.unbind(1)):
            metric.update(logits.detach(), target)
        return total

    def log_step(self, values: dict[str, torch.Tensor]) -> None:
        """Per-step training values go straight to the loggers, by hand: LightningModule.log costs
        about 1 ms a call on CPU (it re-walks its result store), as much as a small network's step."""
        floats = {k: v.item() for k, v in values.items()}  # the one host sync per step
        self.last_train_loss = floats["train/loss"]
        if self._trainer is None or self.trainer.sanity_checking:
            return
        floats["epoch"] = self.current_epoch
        for logger in self.loggers:
            logger.log_metrics(floats, step=self.global_step)

    def log_accuracy(self, split: str) -> None:
        """Accuracy per task over the whole epoch: computed once here, not logged every step."""
        names = self.hparams.task_names
        log = {}
        for name, metric in zip(names, self.metrics[split + "_"]):
            if metric.update_count:
                value = metric.compute()
                log[f"{split}/acc" if name == names[0] else f"{split}/{name}/acc"] = value
                if len(names) > 1 and name == names[0]:
                    log[f"{split}/{name}/acc"] = value
            metric.reset()
        if log:
            self.log_dict(log, prog_bar=split == "val")

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.model_step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self.model_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self.model_step(batch, "test")

    def on_train_epoch_end(self) -> None:
        self.log_accuracy("train")

    def on_validation_epoch_end(self) -> None:
        self.log_accuracy("val")

    def on_test_epoch_end(self) -> None:
        self.log_accuracy("test")

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = create_optimizer(hp.optimizer, self.parameters(), lr=hp.lr, momentum=hp.momentum,
                                     nesterov=hp.nesterov, beta2=hp.beta2, eps=hp.eps)
        trainer = self.trainer
        total = int(trainer.estimated_stepping_batches)  # also sets up the train loader
        steps_per_epoch = max(1, math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches))
        scheduler = lambda_lr(
            optimizer, hp.lr, schedule=hp.lr_schedule, steps_per_epoch=steps_per_epoch, total_steps=total,
            tau=hp.lr_tau, final_ratio=hp.lr_final_ratio, decay=hp.lr_decay, step_epochs=hp.lr_step_epochs,
            warmup_steps=hp.warmup_steps,
        )
        # interval "step": ε changes every optimizer step k; the name gives metrics.csv its `lr` column.
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"}}
