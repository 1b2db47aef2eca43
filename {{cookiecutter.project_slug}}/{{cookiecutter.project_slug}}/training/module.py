"""The LightningModule of every kind of task: its steps share `model_step`, which asks each task's kind
(data/tasks.TASK_KINDS) for its loss, prediction and target; the checklist's objective (Σ_t w_t L_t, + L1,
+ the adversarial share: objectives.py), the metrics per split and task, the optimizer's parameter groups."""

import math

import lightning as L
import torch
{% if cookiecutter.backbones %}
from ..config.reach import is_backbone
{%- endif %}
from ..data.tasks import kinds_of
from ..models.blocks import weights
from ..models.build import network_from_hparams
from ..models.initialization import initialize, set_output_bias
from ..networks import MODELS
from .objectives import adversarial_examples, frozen_batchnorm_statistics, l1_penalty, sparsity
from .optimizers import create_optimizer, parameter_groups
from .schedules import lambda_lr, schedule_arguments


class TaskModule(L.LightningModule):
    """Keyword arguments: the resolved flags plus what the data determines (training/build.build_module),
    all saved as hyperparameters, so a checkpoint rebuilds the same network.{% if cookiecutter.backbones %}
    `load_pretrained` (not saved): read --pretrained weights from the cache; a checkpoint holds them
    already, so loading one needs no cache.{% endif %}"""

    def __init__(self, {% if cookiecutter.backbones %}*, load_pretrained: bool = False, {% endif %}**hparams):
        super().__init__()
        self.save_hyperparameters({% if cookiecutter.backbones %}ignore=["load_pretrained"]{% endif %})
        hp = self.hparams
        self.net = network_from_hparams(hp, MODELS{% if cookiecutter.backbones %}, load_weights=load_pretrained{% endif %})
{%- if cookiecutter.backbones %}
        # The schemes fill what is not pretrained: the heads, or the whole network without --pretrained.
        pretrained = hp.get("pretrained", False) and is_backbone(hp.model)
        initialize(self.net.heads if pretrained else self.net, hp.init, hp.init_variance, hp.bias_init)
{%- else %}
        initialize(self.net, hp.init, hp.init_variance, hp.bias_init)
{%- endif %}
        n = len(hp.task_names)
        self.kinds = kinds_of(hp)
        prior = [k.bias(f) for k, f in zip(self.kinds, hp.label_frequencies)] if hp.output_bias == "prior" else None
        set_output_bias(self.net.heads.outputs, prior)
        self.task_weights = list(hp.task_weights) or [1.0] * n
        # Each task's training μ, σ (a numeric kind learns (y − μ) / σ); not persistent: in the hyperparameters.
        self.register_buffer("target_mean", torch.tensor(hp.get("target_mean") or [0.0] * n), persistent=False)
        self.register_buffer("target_std", torch.tensor(hp.get("target_std") or [1.0] * n), persistent=False)
        self.loss_flags = [{f: hp[f] for f in kind.flags if f in hp} for kind in self.kinds]
        # Per split, per task, its kind's metrics. ModuleDict keys may not be "train" (a Module attribute).
        metrics = lambda c, kind: torch.nn.ModuleDict({name: make(c) for name, make in kind.metrics.items()})
        self.metrics = torch.nn.ModuleDict(
            {s + "_": torch.nn.ModuleList(map(metrics, hp.task_classes, self.kinds)) for s in ("train", "val", "test")}
        )
        primary, classes = self.kinds[0], hp.task_classes[0]
        # val/adv_<metric>: the primary task's monitored metric (val/adv_acc) on adversarial examples.
        self.adversarial_metric = primary.metrics[primary.monitor](classes) if hp.adversarial != "none" else None
        self.confusion = primary.confusion(classes)  # of the test split (a regression has none)
        self.test_confusion: torch.Tensor | None = None  # [C, C] after testing
        self.last_train_loss = math.nan

    def configure_model(self) -> None:
        # In place (nn.Module.compile): idempotent across fit/test; the state_dict keys stay the same.
        if self.hparams.compile:
            self.net.compile()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net(x)

    def model_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list, list, list]:
        """Per task: its loss, and the prediction and target its metrics read (TaskKind.loss).
        x: [B, C, H, W] in [0, 1]{% if cookiecutter.tables %} (a table: [B, F, 1, 1]){% endif %}; y: [B, T], one target per task."""
        tasks = enumerate(zip(self.kinds, self(x), self.target_mean, self.target_std, self.loss_flags))
        parts = [kind.loss(out, y[:, t], mean, std, **flags) for t, (kind, out, mean, std, flags) in tasks]
        losses, predictions, targets = zip(*parts)
        return list(losses), list(predictions), list(targets)

    def weighted(self, losses: list[torch.Tensor]) -> torch.Tensor:
        """The multitask loss Σ_t w_t L_t."""
        return sum(w * loss for w, loss in zip(self.task_weights, losses))

    def total_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.weighted(self.model_step(x, y)[0])

    def adversarial_examples(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """objectives.adversarial_examples against this network's multitask loss."""
        hp = self.hparams
        return adversarial_examples(self.total_loss, x, y, hp.adversarial, hp.adv_eps, hp.adv_steps)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        losses, predictions, targets = self.model_step(x, y)
        self.update_metrics("train", predictions, targets)
        total, log, hp = self.weighted(losses), self.losses_log("train", losses), self.hparams
        if hp.adversarial != "none" and hp.adv_weight > 0:
            # (1 − w)·L(clean) + w·L(adversarial): the checklist's "augment the dataset with these problematic
            # examples". Only the clean pass updates batch norm's running μ and σ², once per step.
            with frozen_batchnorm_statistics(self.net):
                adv_loss = self.total_loss(self.adversarial_examples(x, y), y)
            total = (1 - hp.adv_weight) * total + hp.adv_weight * adv_loss
            log["train/adv_loss"] = adv_loss.detach()
        if hp.l1 > 0:
            l1 = l1_penalty(self.net, hp.l1)  # λ·Σ|w|
            total = total + l1
            log["train/l1"] = l1.detach()
        self.log_step(log)
        return total

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        self.evaluation_step("val", x, y)
        if self.adversarial_metric is not None:
            _, predictions, targets = self.model_step(self.adversarial_examples(x, y), y)
            self.adversarial_metric.update(predictions[0].detach(), targets[0])

    def test_step(self, batch, batch_idx: int) -> None:
        predictions, targets = self.evaluation_step("test", *batch)
        if self.confusion is not None:
            self.confusion.update(predictions[0].detach(), targets[0])

    def evaluation_step(self, split: str, x: torch.Tensor, y: torch.Tensor) -> tuple[list, list]:
        """Losses averaged per epoch (sync_dist: under DDP over every rank's shard, not rank 0's alone)."""
        losses, predictions, targets = self.model_step(x, y)
        self.update_metrics(split, predictions, targets)
        self.log_dict(self.losses_log(split, losses), on_step=False, on_epoch=True, batch_size=len(x), sync_dist=True)
        return predictions, targets

    def losses_log(self, split: str, losses: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """split/loss of the primary task (plain names); with several tasks also split/<task>/loss, split/total_loss."""
        names = self.hparams.task_names
        log = {f"{split}/loss": losses[0].detach()}
        if len(names) > 1:
            log.update({f"{split}/{n}/loss": loss.detach() for n, loss in zip(names, losses)})
            log[f"{split}/total_loss"] = self.weighted(losses).detach()
        return log

    def update_metrics(self, split: str, predictions: list[torch.Tensor], targets: list[torch.Tensor]) -> None:
        for metrics, prediction, target in zip(self.metrics[split + "_"], predictions, targets):
            for metric in metrics.values():
                metric.update(prediction.detach(), target)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """--resume with another --lr: rescale the restored optimizer's and schedule's ε0 (go on with the new ε0)."""
        old, new = checkpoint.get("hyper_parameters", {}).get("lr"), self.hparams.lr
        if not old or old == new:
            return
        ratio = new / old
        for state in checkpoint.get("lr_schedulers", []):
            state["base_lrs"] = [lr * ratio for lr in state.get("base_lrs", [])]
        for state in checkpoint.get("optimizer_states", []):
            for group in state.get("param_groups", []):
                if "initial_lr" in group:
                    group["initial_lr"] *= ratio

    def on_train_start(self) -> None:
        # The restored optimizer holds ε of the step where the checkpoint was taken, as the old plan
        # had it; set ε_k of this run's plan (a resume may change ε0, the schedule or the run's length).
        for config in self.trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR) and scheduler.last_epoch > 0:
                for group, base, fn in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
                    group["lr"] = base * fn(scheduler.last_epoch)

    def log_step(self, values: dict[str, torch.Tensor]) -> None:
        """Per-step values to the loggers by hand: LightningModule.log costs ~1 ms a call on CPU, like a small step."""
        floats = {k: v.item() for k, v in values.items()}  # the one host sync per step
        self.last_train_loss = floats["train/loss"]
        if self._trainer is None or self.trainer.sanity_checking or self.global_step % self.trainer.log_every_n_steps:
            return
        # ε_k of this step. Not LearningRateMonitor: it writes one column per parameter group (lr/pg1, …).
        groups = self.trainer.optimizers[0].param_groups
        floats.update(epoch=self.current_epoch, lr=groups[0]["lr"])
        if len(groups) > 2:  # --backbone-lr-ratio: the trunk's groups come last
            floats["lr-backbone"] = groups[-1]["lr"]
        for logger in self.loggers:
            logger.log_metrics(floats, step=self.global_step)

    def on_before_optimizer_step(self, optimizer) -> None:
        # train/grad_norm: the total gradient norm before --gradient-clip-val clips it (Lightning clips
        # after this hook, and 16-mixed has unscaled the gradients by then), on the logged steps.
        if self.trainer.sanity_checking or self.global_step % self.trainer.log_every_n_steps:
            return
        if grads := [p.grad for p in self.parameters() if p.grad is not None]:
            norm = torch.nn.utils.get_total_norm(grads).item()
            for logger in self.loggers:
                logger.log_metrics({"train/grad_norm": norm, "epoch": self.current_epoch}, step=self.global_step)

    def log_epoch(self, split: str) -> None:
        """Each task's metrics over the whole epoch: computed once here, not logged every step."""
        names = self.hparams.task_names
        log = {}
        for name, metrics in zip(names, self.metrics[split + "_"]):
            for metric_name, metric in metrics.items():
                if metric.update_count:
                    value = metric.compute()
                    if name == names[0]:
                        log[f"{split}/{metric_name}"] = value
                    if len(names) > 1:
                        log[f"{split}/{name}/{metric_name}"] = value
                metric.reset()
        if split == "val":
            log["val/sparsity"] = sparsity(weights(self.net))
            if self.adversarial_metric is not None and self.adversarial_metric.update_count:
                log[f"val/adv_{self.kinds[0].monitor}"] = self.adversarial_metric.compute()
                self.adversarial_metric.reset()
        if log:  # torchmetrics already gathered every rank; sync_dist only averages equal values
            self.log_dict(log, prog_bar=split == "val", sync_dist=True)

    def on_train_epoch_end(self) -> None:
        self.log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self.log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.log_epoch("test")
        if self.confusion is not None:  # a regression primary task has none
            self.test_confusion = self.confusion.compute()
            self.confusion.reset()

    def parameter_groups(self) -> list[dict]:
        """Weights (decayed) and the other parameters, frozen ones left out; with --backbone-lr-ratio r != 1 the
        trunk's two groups come last with initial ε r·ε0 (LambdaLR scales each by ε_k/ε0: the trunk's is r·ε_k)."""
        hp = self.hparams
        ratio = hp.get("backbone_lr_ratio", 1.0)
        decayed = {id(w) for w in weights(self.net)}
        trunk = {id(p) for p in self.net.trunk.parameters()} if ratio != 1 else set()
        groups = []
        for part, lr in ((False, hp.lr), (True, ratio * hp.lr)):
            params = [p for p in self.parameters() if p.requires_grad and (id(p) in trunk) == part]
            decay = [p for p in params if id(p) in decayed]
            split = parameter_groups(decay, [p for p in params if id(p) not in decayed], hp.weight_decay)
            groups += [{**g, "lr": lr} for g in split if g["params"] or not part]
        return groups

    def configure_optimizers(self):
        hp, trainer = self.hparams, self.trainer
        # The flags the optimizer takes; --weight-decay is the default each parameter group overrides.
        optimizer = create_optimizer(hp.optimizer, self.parameter_groups(), **dict(hp))
        total = int(trainer.estimated_stepping_batches)  # also sets up the train loader
        per_epoch = max(1, math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches))
        scheduler = lambda_lr(optimizer, steps_per_epoch=per_epoch, total_steps=total, **schedule_arguments(dict(hp)))
        # interval "step": ε changes after every optimizer step k.
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @property
    def class_names(self) -> list[list[str]]:
        """Per task, the name of each class ("0", "1", … for checkpoints saved without names)."""
        from ..checkpoints import class_names_of

        return class_names_of(dict(self.hparams))

    def predict_step(self, batch, batch_idx: int = 0, dataloader_idx: int = 0) -> list[torch.Tensor]:
        """Per task, its kind's predictions (TaskKind.predict: class probabilities [B, C], or a value [B, 1] in
        the target's units) of inputs [B, C, H, W] in [0, 1], or of a batch's first item (the datamodule's loaders)."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if len(x) == 0:  # an empty batch (predict.py: every file of it was undecodable)
            return [x.new_zeros(0, c) for c in self.hparams.task_classes]
        units = zip(self.kinds, self(x), self.target_mean, self.target_std)
        return [kind.predict(outputs, mean, std) for kind, outputs, mean, std in units]


def load_module(path, map_location: str | torch.device = "cpu") -> TaskModule:
    """A checked checkpoint's TaskModule (eval, uncompiled); one that does not build or fit here: CheckpointError."""
    from ..checkpoints import read_hparams
    from ..errors import CheckpointError, UsageError, one_line

    hp = read_hparams(path)  # one line saying what the file is when it is not one of this project's
    if hp["model"] not in MODELS{% if cookiecutter.backbones %} and not is_backbone(hp["model"]){% endif %}:
        why = f"hyperparameter 'model' is {hp['model']!r}, not a network of networks.py ({', '.join(MODELS)})"
        raise CheckpointError(f"{path}: {why}")
    try:
        model = TaskModule.load_from_checkpoint(path, map_location=map_location, weights_only=True, compile=False)
    except UsageError:
        raise
    except (AttributeError, KeyError) as e:  # a field this version reads that the file lacks
        field = getattr(e, "name", None) or (e.args[0] if e.args else "?")
        why = f"hyperparameter {field!r} is missing (a checkpoint of another version?)"
        raise CheckpointError(f"{path}: {why}") from None
    except RuntimeError as e:  # load_state_dict: the weights do not have the shapes the hyperparameters give
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]  # one line of its report
        detail = next((line for line in lines[1:] if "size mismatch" in line or "key" in line.lower()), lines[-1])
        field = "task_classes" if "heads.outputs" in detail else "model, depth or width"
        raise CheckpointError(f"{path}: the weights do not fit hyperparameter {field} ({detail[:200]})") from None
    except (TypeError, ValueError) as e:
        why = one_line(e)[:160]
        raise CheckpointError(f"{path}: its hyperparameters do not build a network here ({why})") from None
    bad = next((n for n, t in model.state_dict().items() if t.is_floating_point() and not t.isfinite().all()), None)
    if bad is not None:
        why = "holds NaN or inf (saved after training diverged?); use an earlier checkpoint"
        raise CheckpointError(f"{path}: weight {bad} {why}")
    return model.eval()
