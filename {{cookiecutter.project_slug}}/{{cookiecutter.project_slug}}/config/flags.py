"""Every checklist hyperparameter, declared once in FLAGS: type, default, allowed values and the checklist's reason (the
help text); parser.py makes the command line of them. Registered names (networks, optimizers, schedules, …) are read
from their registries' source (declared.py): no torch is imported here, so `--help` and bad input answer at once."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..datasets import DATASETS
from .declared import decorated, dict_keys
from .reach import declared_models, model_type
from .types import (
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    UNIT,
    Range,
    auto_or,
    batches_type,
    devices_type,
    list_type,
    number_type,
    optional,
    run_name_type,
    wandb_project_type,
    wandb_tag_type,
)

# The registries' names, read from their source (the modules import torch).
OPTIMIZER_NAMES = tuple(decorated("training/optimizers.py", "register_optimizer"))
SCHEDULE_NAMES = dict_keys("training/schedules.py", "SCHEDULES")
INIT_NAMES = (*dict_keys("models/initialization.py", "INITS"), "torch-default")
ACTIVATION_NAMES = dict_keys("models/blocks.py", "ACTIVATIONS")
RNN_CELLS = dict_keys("models/blocks.py", "RNN_CELLS")

# --help lists the groups in this order (the order of the checklist and of CLI.md).
SECTIONS = "Learning rate", "Optimization algorithm", "Batch normalization", "Architecture", "Parameter initialization"
SECTIONS += ("Regularization", "Activation function", "Data", "Trainer and hardware", "Logging")


@dataclass(frozen=True)
class Flag:
    """One hyperparameter: its name (underscore form), section, default, help and type."""

    name: str
    section: str
    default: Any
    help: str
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    cli: str | None = None  # the command-line spelling, where it is not the name's

    @property
    def option(self) -> str:
        return self.cli or "--" + self.name.replace("_", "-")

    @property
    def is_bool(self) -> bool:
        return isinstance(self.default, bool)


def flag(name, section, default, help, kind=None, allowed=None, choices=None, none_ok=False, metavar=None, cli=None):
    """Declare a flag. `kind`: int or float (with `allowed`, a Range), str, bool or a parser such as list_type."""
    parse = number_type(kind, allowed) if kind in (int, float) else None if kind in (None, str, bool) else kind
    parse = optional(parse or str) if none_ok else parse
    return Flag(name, section, default, help, parse, tuple(choices) if choices else None, metavar, cli)


LR, OPT, BN, ARCH, INIT, REG, ACT, DATA, TRAIN, LOG = SECTIONS

# Robbins–Monro (GBC16 §8.3.1): SGD converges when Σε_k = ∞ and Σε_k² < ∞. Per schedule,
# over an unbounded run (k, n → ∞); `--help` and the README quote this table.
ROBBINS_MONRO = {
    "constant": "Σε diverges, Σε² diverges (not satisfied: ε never decreases)",
    "linear": "Σε diverges, Σε² diverges (constant ε_τ after τ; GBC16's practical choice)",
    "inverse-time": "Σε diverges, Σε² converges (satisfied: ε ~ 1/n)",
    "exponential": "Σε converges, Σε² converges (decays too fast: ε can stop short)",
    "sqrt": "Σε diverges, Σε² diverges (ε² ~ 1/n, borderline harmonic)",
    "step": "Σε converges, Σε² converges (geometric, like exponential)",
    "cosine": "Σε diverges, Σε² diverges (constant final value after the run's length)",
}

# A table, one entry per flag (ruff format would give each argument a line of its own).
# fmt: off
FLAGS: list[Flag] = [
    # --- Learning rate
    flag("lr", LR, 3e-3, "ε0, the initial learning rate: the most important hyperparameter (Ng). Too high: the cost "
         "increases as the algorithm oscillates; too low: it decreases too slowly.", float, POSITIVE),
    flag("lr_schedule", LR, "linear", "ε_k as a function of optimizer step k (epoch n). linear (GBC16): (1-k/τ)ε0 + "
         "(k/τ)ε_τ for k <= τ, ε_τ after; inverse-time: ε0/(1+δn); exponential: δ^n ε0; sqrt: ε0/√n (n from 1); "
         "step: ε0 δ^⌊n/s⌋; cosine: ε0 to ε_τ over the run; constant: ε0. Robbins–Monro (Σε=∞, Σε²<∞): "
         + "; ".join(f"{k}: {v}" for k, v in ROBBINS_MONRO.items()), choices=SCHEDULE_NAMES),
    flag("lr_tau", LR, None, "τ, optimizer steps until the linear schedule reaches ε_τ (and the cosine's length); "
         "default: the whole run, so the last step uses ε_τ.", int, POSITIVE, none_ok=True),
    flag("lr_final_ratio", LR, 0.01, "ε_τ/ε0 for linear and cosine (GBC16 suggests ε_τ = 0.01 ε0).",
         float, Range(0, 1, lo_open=True)),
    flag("lr_decay", LR, 0.5, "δ: decay rate for inverse-time (δ > 0) and the factor per epoch for exponential and "
         "step (0 < δ < 1).", float, POSITIVE),
    flag("lr_step_epochs", LR, 10, "s: epochs between multiplications by δ in the step schedule.", int, POSITIVE),
    flag("warmup_steps", LR, 0, "N: ramp ε linearly from 0 to the schedule's value over the first N steps.",
         int, NON_NEGATIVE),
    flag("find_lr", LR, False, "Run the learning-rate range test over the first minibatches (observe the cost, the "
         "checklist says), save plots/lr_find.png and lr_find.csv, print the suggested ε0 and exit."),
    flag("auto_lr", LR, False, "Run the range test, then train with the suggested ε0."),
    flag("plot_lr_schedule", LR, False, "Save plots/lr_schedule.png of ε_k over the planned run and exit."),
    # --- Optimization algorithm
    flag("optimizer", OPT, "adam", "Adam is a good starting point; SGD and RMSProp, with or without momentum, are "
         "good options too (checklist).", choices=OPTIMIZER_NAMES),
    flag("momentum", OPT, 0.9, "Heavy-ball momentum for sgd and rmsprop (0 = without momentum); β1 for adam/adamw. "
         "Second in importance after ε0 (Ng).", float, Range(0, 1, hi_open=True)),
    flag("nesterov", OPT, False, "Nesterov momentum (sgd with momentum > 0 only)."),
    flag("beta2", OPT, 0.999, "Second-moment decay: Adam's β2, RMSProp's α.", float, UNIT),
    flag("eps", OPT, 1e-8, "ε added to the denominator of adam/adamw/rmsprop.", float, POSITIVE),
    flag("batch_size", OPT, 64, "Minibatch size per device; a power of 2, as large as fits before the cache cliff "
         "(see --find-batch-size).", int, POSITIVE),
    flag("find_batch_size", OPT, False, "The checklist's cliff test: time training minibatches of sizes 1, 2, 4, …; "
         "save batch_size.csv, plots/batch_size.png; print the largest size before the cliff (or: too noisy); exit."),
    flag("find_batch_size_max", OPT, 4096, "Largest batch size the cliff test tries (>= 2).", int, Range(2)),
    flag("gradient_clip_val", OPT, 0.0, "Clip the gradient norm to this value (0 = off).", float, NON_NEGATIVE),
    # --- Batch normalization
    flag("batchnorm", BN, True, "Batch normalization: decouples early layers from later ones (checklist); "
         "--no-batchnorm turns it off."),
    flag("bn_position", BN, "pre", "pre: normalize z before the activation (Ng's recommendation); post: normalize the "
         "activation's output. A layer feeding batch norm has no bias (β makes it redundant).",
         choices=("pre", "post")),
    flag("bn_momentum", BN, 0.1, "Weight of the newest minibatch in the running averages of μ and σ² used at test "
         "time.", float, Range(0, 1)),
    flag("bn_eps", BN, 1e-5, "ε in z_norm = (z-μ)/√(σ²+ε), only there to prevent division by zero.", float, POSITIVE),
    flag("sync_batchnorm", BN, "auto", "SyncBatchNorm across GPUs: auto = on when training with batch norm on more "
         "than one GPU; never on CPU (PyTorch refuses it).", choices=("auto", "true", "false")),
    # --- Architecture
    flag("model", ARCH, "mlp", "The domain dictates the architecture; CNNs and RNNs share parameters, a kind of "
         "regularization (checklist). rnn reads an image row by row. Add your own in networks.py"
{%- if cookiecutter.backbones %}
         "; torchvision:<name> (resnet18, mobilenet_v3_small, …) and timm:<name> (the timm extra) are pretrainable "
         "backbones"
{%- endif %}
         ".", model_type,
{%- if cookiecutter.backbones %}
         metavar="{" + ",".join(declared_models()) + ",torchvision:NAME,timm:NAME}"),
{%- else %}
         metavar="{" + ",".join(declared_models()) + "}"),
{%- endif %}
    flag("depth", ARCH, 2, "Hidden layers / conv blocks / recurrent layers / residual blocks. High training error: "
         "add capacity (checklist).", int, POSITIVE),
    flag("width", ARCH, "auto", "Hidden units per layer / base channels / recurrent units. Use as large a network as "
         "is feasible and regularize (Ng). auto: the network's own default (networks.py: mlp 256, cnn 64, rnn 256, "
         "resnet 64).", auto_or(number_type(int, POSITIVE))),
    flag("rnn_cell", ARCH, "gru", "Recurrent cell for --model rnn.", choices=RNN_CELLS),
    flag("bidirectional", ARCH, False, "rnn: a second recurrent stack reads the steps backwards; both are read out."),
    flag("rnn_readout", ARCH, "last", "rnn: what the head reads: the last state (per direction), or the mean or max "
         "over every step's output.", choices=("last", "mean", "max")),
    flag("kernel_size", ARCH, 3, "cnn/resnet: k, the kernel's size per axis (1-D on a sequence, 2-D on an image), "
         "padding ⌊k/2⌋: its k (k×k) weights are shared across positions.", int, POSITIVE),
    flag("stride", ARCH, 1, "cnn (every conv), resnet (the stem): s, positions skipped; each length L becomes "
         "⌊(L + 2⌊k/2⌋ − k)/s⌋ + 1.", int, POSITIVE),
    flag("pool", ARCH, 2, "cnn/resnet: max pooling window (and stride) after each conv block while the map is long "
         "enough; 1 = no pooling.", int, POSITIVE),
{%- if cookiecutter.backbones %}
    flag("pretrained", ARCH, False, "torchvision:/timm: backbones: load their default pretrained weights from the "
         "local cache (TORCH_HOME, the Hugging Face cache; never downloaded) and use their normalization statistics. "
         "The initialization schemes then fill the heads only."),
{%- endif %}
    flag("freeze_backbone", ARCH, False, "Train the heads only: the trunk's parameters get no gradient and its batch "
         "norm keeps its running statistics (eval mode)."),
    flag("backbone_lr_ratio", ARCH, 1.0, "r: the trunk's learning rate is r·ε_k of the schedule at every step, the "
         "heads get ε_k (fine-tune a trained trunk gently with r < 1).", float, POSITIVE),
    # --- Parameter initialization
    flag("init", INIT, "he-normal", "Random weights break symmetry. he-normal: N(0, 2/m), m = inputs (Ng); normal: "
         "N(0, σ²), σ² = --init-variance (Ng); uniform-fan-in: U(±m^-1/2) (GBC16); glorot-uniform: "
         "U(±((m+n)/6)^-1/2), n = outputs (GBC16); he-uniform: U(±√(6/m)); orthogonal; torch-default.",
         choices=INIT_NAMES),
    flag("init_variance", INIT, 0.1, "σ² for --init normal (0.1 suits about 20 units per layer, Ng).", float, POSITIVE),
    flag("bias_init", INIT, 0.0, "Value of every hidden bias (zero is typical, checklist).", float),
    flag("output_bias", INIT, "prior", "prior: set the output bias to the training labels' statistics as if the "
         "weights were zero (log class frequencies for softmax, logit(p) for a binary head: σ(b) = p{% if cookiecutter.tables %}; a "
         "regression head: the standardized training mean{% endif %}); zero.",
         choices=("prior", "zero")),
    # --- Regularization (GBC16: anything that raises training error in the hope of lowering test error)
    flag("weight_decay", REG, 0.0, "L2 weight decay: keeps weights small. Coupled (added to the gradient) for sgd, "
         "adam and rmsprop; decoupled for adamw. Biases and normalization parameters are not decayed.",
         float, NON_NEGATIVE),
    flag("l1", REG, 0.0, "λ: adds λ·Σ|w| over the weights (not biases) to the training loss; L1 gives sparsity "
         "(logged: train/l1, val/sparsity = share of |w| < 1e-3).", float, NON_NEGATIVE),
    flag("dropout", REG, 0.0, "p = 1 - keep probability of hidden units (for rnn: between recurrent layers and before "
         "the head). Inverted scaling by 1/(1-p) during training keeps the expected activation; nothing is dropped at "
         "test time.", float, PROBABILITY),
    flag("input_dropout", REG, 0.0, "p = 1 - keep probability of input pixels.", float, PROBABILITY),
    flag("aug_translate", REG, 0.0, "Augmentation (training split only, 0 = off): shift by up to this fraction of the "
         "width/height.", float, Range(0, 1, hi_open=True)),
    flag("aug_scale", REG, 0.0, "Zoom by a factor in [1-s, 1+s].", float, Range(0, 1, hi_open=True)),
    flag("aug_rotate", REG, 0.0, "Rotate by up to ± this many degrees.", float, Range(0, 180)),
    flag("aug_mirror", REG, 0.0, "Probability of a horizontal flip (changes a digit's meaning: a warning).",
         float, Range(0, 1)),
    flag("aug_skew", REG, 0.0, "Shear (skew) by up to ± this many degrees.", float, Range(0, 90, hi_open=True)),
    flag("aug_blur", REG, 0.0, "Gaussian blur with σ drawn up to this many pixels.", float, NON_NEGATIVE),
    flag("aug_contrast", REG, 0.0, "Change contrast by a factor in [1-c, 1+c].", float, Range(0, 1)),
{%- if cookiecutter.tables %}
    flag("seq_shift", REG, 0.0, "Sequences (--input-shape C,L): shift every channel by k steps, k uniform in "
         "±round(f·L), circularly: x'[t] = x[(t − k) mod L] (0 = off; the image --aug-* flags are off).",
         float, Range(0, 1, hi_open=True)),
    flag("seq_scale", REG, 0.0, "Sequences: scale about the channel's training mean μ: x' = μ + a(x − μ), a uniform "
         "in [1−s, 1+s] per example.", float, Range(0, 1, hi_open=True)),
    flag("seq_jitter", REG, 0.0, "Sequences: add noise j·σ·N(0, 1) to every step, σ the channel's training std.",
         float, NON_NEGATIVE),
{%- endif %}
    flag("aug_preview", REG, False, "Save plots/augment.png (training images beside augmented copies) and exit."),
    flag("adversarial", REG, "none", "Adversarial training: for each batch find examples within the L∞ ε-ball of the "
         "inputs (valid range kept) that the network gets wrong, and train on them too (checklist). fgsm: one "
         "signed-gradient step; pgd: --adv-steps projected steps.", choices=("none", "fgsm", "pgd")),
    flag("adv_eps", REG, 0.1, "ε: the L∞ radius of the perturbation, in pixel units of [0, 1].",
         float, Range(0, 1, lo_open=True)),
    flag("adv_steps", REG, 5, "PGD steps (step size 2.5ε/steps).", int, POSITIVE),
    flag("adv_weight", REG, 0.5, "w in the loss (1-w)·L(clean) + w·L(adversarial).", float, Range(0, 1)),
    flag("early_stopping_patience", REG, 0, "Stop after this many epochs without a better monitored metric (0 = "
         "off, the default: Ng discourages early stopping, which entangles optimization with tuning; GBC16 likes it).",
         int, NON_NEGATIVE),
    flag("early_stopping_min_delta", REG, 0.0, "Smallest gain in the monitored metric that counts as better.",
         float, NON_NEGATIVE),
    flag("tasks", REG, [], "Multitask learning: comma list of tasks, the first is the primary one; one head per task "
         "on a shared trunk (default: the dataset's main task). "
         + "; ".join(f"{n}: {', '.join(t.name for t in d.tasks)}" for n, d in DATASETS.items() if d.tasks)
{%- if cookiecutter.tables or cookiecutter.streaming %}
         + "{% if cookiecutter.tables %}; csv: columns of the table{% endif %}{% if cookiecutter.streaming %}; streaming: the tasks stored by prepare{% endif %}"
{%- endif %},
         list_type(str)),
    flag("task_weights", REG, [], "w_t in the loss Σ w_t·L_t, one per task (default: all 1).",
         list_type(number_type(float, NON_NEGATIVE))),
{%- if cookiecutter.tables %}
    flag("task_types", REG, [], "classification or regression per task: a list aligned with --tasks (auto,regression) "
         "or COLUMN:TYPE pairs (price:regression). Default (auto): a text column, or whole numbers with at most 20 "
         "distinct values, is classification; other numbers are regression.", list_type(str)),
    flag("regression_loss", REG, "mse", "Loss of a regression head, on targets standardized with the training split's "
         "mean and std: mse, huber (quadratic within --huber-delta, linear beyond), l1.",
         choices=("mse", "huber", "l1")),
    flag("huber_delta", REG, 1.0, "δ of --regression-loss huber, in target standard deviations.", float, POSITIVE),
{%- endif %}
    # --- Activation function
    flag("activation", ACT, "relu", "Hidden-layer activation. ReLU is the default; sigmoid/tanh saturate at both ends "
         "and are not appropriate for hidden layers (checklist).", choices=ACTIVATION_NAMES),
    flag("leaky_slope", ACT, 0.01, "α of leaky-relu g(z) = max(z, αz); α = 0 gives ReLU (and prelu's initial α).",
         float, Range(0, 1, hi_open=True)),
    flag("maxout_pieces", ACT, 2, "k >= 2 linear pieces per maxout unit (a learned convex piecewise-linear "
         "activation, GBC16).", int, Range(2)),
    # --- Data
    flag("dataset", DATA, {{ cookiecutter.default_dataset | tojson }}, "; ".join(f"{n}: {d.help}" for n, d in DATASETS.items())
         + " (declared in datasets.py: add yours there).", choices=tuple(DATASETS)),
    flag("data_dir", DATA, "data", "Root folder of the datasets (torchvision's layout: data/MNIST/raw/, "
         "data/cifar-10-batches-py/); for image-folder, the folder of class folders (or of train/ and test/).",
         metavar="PATH"),
{%- if cookiecutter.tables %}
    flag("target", DATA, None, "csv: the column to predict (classes, or a number for a regression task: see "
         "--task-types).", none_ok=True, metavar="COLUMN"),
    flag("features", DATA, [], "csv: the input columns (default: every other numeric column).", list_type(str)),
    flag("feature_shape", DATA, [], "Tables: the feature columns, in order, as a sequence C,L (C channels of L steps, "
         "channel-major: time is the last axis) or an image C,H,W; cnn/resnet then convolve along it (1-D, 2-D) and "
         "rnn reads its L steps. Default: unordered columns (mlp). Config key: feature_shape (input_shape is the "
         "shape the network reads).", list_type(number_type(int, POSITIVE)), cli="--input-shape"),
    flag("test_data", DATA, None, "csv: a CSV file with the same columns used as the test split as it is; "
         "validation is then carved from --data-dir only. Default: a stratified fifth of --data-dir is held out.",
         none_ok=True, metavar="FILE"),
{%- endif %}
    flag("download", DATA, False, "Download the dataset into --data-dir if its files are missing (once per node)."),
{%- if cookiecutter.backbones %}
    flag("image_size", DATA, 32, "image-folder: images are resized to this many pixels square; torchvision:/timm: "
         "backbones: smaller images are resized up to this (or to the backbone's minimum).", int, Range(4)),
{%- else %}
    flag("image_size", DATA, 32, "image-folder: images are resized to this many pixels square.", int, Range(4)),
{%- endif %}
    flag("val_fraction", DATA, 0.1, "Share of the training data held out for validation.", float, UNIT),
    flag("split_seed", DATA, 0, "Seeds the split into training, validation (and a held-out test share), apart from "
         "--seed: the split stays fixed while --seed varies the initialization.", int, Range(0, 2**32 - 1)),
    flag("num_workers", DATA, 0, "DataLoader worker processes (0 = load in the main process; fastest for in-memory "
         "data).", int, NON_NEGATIVE),
    # --- Trainer and hardware
    flag("max_epochs", TRAIN, 20, "Passes over the training data.", int, POSITIVE),
    flag("max_steps", TRAIN, -1, "Stop after this many optimizer steps (-1 = no limit).", int, Range(-1)),
    flag("seed", TRAIN, 0, "Seeds initialization, batch order, dropout (not the split).", int, Range(0, 2**32 - 1)),
    flag("deterministic", TRAIN, False, "Use deterministic algorithms (slower on GPU)."),
    flag("fast_dev_run", TRAIN, False, "Run one training and one validation batch, no checkpoints (a smoke test)."),
    flag("limit_train_batches", TRAIN, 1.0, "Fraction (<= 1) or number of training batches per epoch.", batches_type),
    flag("limit_val_batches", TRAIN, 1.0, "Fraction (<= 1) or number of validation batches.", batches_type),
    flag("accelerator", TRAIN, "auto", "Hardware.", choices=("auto", "cpu", "gpu", "mps")),
    flag("devices", TRAIN, "auto", "auto, a count (-1 = all) or a comma list of device indices.", devices_type),
    flag("strategy", TRAIN, "auto", "Distribution strategy.", choices=("auto", "ddp", "ddp_spawn", "fsdp")),
    flag("num_nodes", TRAIN, 1, "Machines taking part (multi-node).", int, POSITIVE),
    flag("precision", TRAIN, "32-true", "Numeric precision.", choices=("32-true", "16-mixed", "bf16-mixed")),
    flag("accumulate_grad_batches", TRAIN, 1, "Minibatches per optimizer step.", int, POSITIVE),
    flag("compile", TRAIN, False, "Compile the network with torch.compile."),
    flag("resume", TRAIN, None, "last (the newest run under --output-dir), a run directory or a checkpoint path: "
         "continue the run from the end of its latest completed epoch (or its interrupt point), its schedule position "
         "and its W&B run. Flags that shape the network, the data or the optimizer state must match the checkpoint; "
         "the others (ε0, schedule, epochs, regularization strengths, logging) may change.",
         none_ok=True, metavar="{last,RUN_DIR,PATH}"),
    flag("ddp_timeout", TRAIN, 1800, "Seconds to wait for every process of a multi-process or multi-node job to join "
         "(and for any one collective operation) before stopping with an error.", int, POSITIVE),
{%- if cookiecutter.diagnostics %}
    flag("profiler", TRAIN, "none", "Lightning's profiler; its report goes to the run directory's profiler/ "
         "(fit-profile.txt, test-profile.txt; pytorch also writes Chrome traces). simple: time per hook; advanced: "
         "cProfile per hook; pytorch: operator-level, CPU and CUDA.",
         choices=("none", "simple", "advanced", "pytorch")),
{%- endif %}
    flag("log_every_n_steps", TRAIN, 1, "Send the per-step values (train/loss, lr) to the loggers every N optimizer "
         "steps.", int, POSITIVE),
    flag("val_check_interval", TRAIN, 1.0, "Validate every fraction (<= 1) of an epoch, or every N training batches "
         "(at most the batches in an epoch).", batches_type),
    flag("check_val_every_n_epoch", TRAIN, 1, "Validate after every N-th epoch.", int, POSITIVE),
    flag("num_sanity_val_steps", TRAIN, 2, "Validation batches run before training to catch bugs early (0 = none, -1 "
         "= all).", int, Range(-1)),
    flag("detect_anomaly", TRAIN, False, "autograd's anomaly detection: the backward op that produced a NaN raises "
         "with its forward traceback (slow; for debugging)."),
    flag("benchmark", TRAIN, False, "cuDNN autotuner: time the convolution algorithms for each input shape and keep "
         "the fastest (GPU; nondeterministic, so not with --deterministic)."),
{%- if cookiecutter.inference %}
    flag("test_only", TRAIN, False, "Test the --resume checkpoint on --dataset's test split without training: "
         "results.json and plots/confusion_matrix.png go to a new run directory (--run-name, default "
         "<run>-test-<dataset>)."),
{%- endif %}
    # --- Logging
    flag("output_dir", LOG, "runs", "Where run directories are written.", metavar="PATH"),
    flag("run_name", LOG, None, "Run directory and W&B run name (default: built from the key hyperparameters and the "
         "time). A run directory belongs to one run: a name already taken is refused unless --overwrite.",
         run_name_type, none_ok=True, metavar="NAME"),
    flag("overwrite", LOG, False, "Replace an existing run directory of the same --run-name (its files are deleted "
         "when the new run starts). Without it, a taken name is an error: use --resume or another name."),
    flag("verbose", LOG, False, "Also show on the console what goes to <run dir>/train.log: Lightning's info lines "
         "(devices, the model summary per layer, the loops' messages). Off: the network, one line per epoch (or "
         "the progress bar), the result and the run directory, and warnings."),
    flag("wandb_mode", LOG, "auto", "auto = online when W&B credentials are present and the server answers, offline "
         "otherwise (never hangs without network).", choices=("auto", "online", "offline", "disabled")),
    flag("wandb_project", LOG, {{ cookiecutter.wandb_project | tojson }}, "W&B project.", wandb_project_type),
    flag("wandb_entity", LOG, {{ cookiecutter.wandb_entity | tojson if cookiecutter.wandb_entity else "None" }}, "W&B entity (team or user).", none_ok=True),
    flag("wandb_tags", LOG, [], "Comma-separated W&B tags (at most 64 characters each).", list_type(wandb_tag_type)),
    flag("wandb_group", LOG, None, "W&B group (e.g. one sweep stage, or the ranks of one job).", none_ok=True),
    flag("wandb_log_model", LOG, False, "Upload checkpoints to W&B as artifacts (online only; offline they stay in "
         "the run directory)."),
    flag("wandb_watch", LOG, "none", "Log gradients and/or parameters to W&B every 100 steps (wandb.watch).",
         choices=("none", "gradients", "parameters", "all")),
{%- if cookiecutter.diagnostics %}
    flag("diagnose", LOG, True, "At the end of the run, the diagnosis (diagnosis.json and at most 5 lines: what to "
         "tune next, in the checklist's order, e.g. \"when ε0 is too high, the cost function may increase "
         "dramatically\"; --no-diagnose skips it; python -m {{cookiecutter.project_slug}}.diagnose RUN_DIR runs it later)."),
    flag("target_error", LOG, None, "The training error the diagnosis compares with (\"especially if the training "
         "error is high, we should consider expanding the capacity of the network\"); default: the best sibling run "
         "on the same --dataset under --output-dir.", float, Range(0, 1, hi_open=True), none_ok=True, metavar="FLOAT"),
    flag("tensorboard", LOG, False, "Also log to TensorBoard in <run dir>/tensorboard/ (the same scalars as "
         "metrics.csv; `tensorboard --logdir runs`). Needs the tensorboard extra: pip install -e '.[tensorboard]'."),
{%- endif %}
]
# fmt: on

# --- Your flags (README: "Add an architecture knob"), below this line: FLAGS.append(flag("name", ARCH, ...))

FLAG_BY_NAME = {f.name: f for f in FLAGS}
