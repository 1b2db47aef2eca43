"""The diagnosis rules, in the checklist's order: each reads a run's own curves and numbers and
returns a Finding (id, severity, evidence with the measured figures and steps, the checklist's words,
the flags to try) or None. Only the standard library (and the flags' table, for ε0's default).

The thresholds are named constants with where they come from; tests put curves on either side of each."""

import math
import statistics
from dataclasses import asdict, dataclass, field

from ..config.flags import FLAG_BY_NAME
from ..datasets import DATASETS
from .curves import Curves

LOW_LR = FLAG_BY_NAME["lr"].default / 10  # as training/callbacks.LOW_LR (which imports torch)

ACCURACY = "acc"  # training/metrics.METRICS' accuracy, logged as <split>/acc: the error rules read it
SEVERITIES = ("info", "warning", "error")  # error: the run failed (diverged); warning: act on it

# --- ε0 too high. The checklist: "observe performance over the first few minibatches".
EARLY_STEPS = 20  # the first minibatches watched (about one epoch of digits at the default --batch-size 64)
# The loss ends the early window 5% above where it began (each end averages 3 steps: minibatch noise), or
# jumps to twice its first value inside it ("the cost function may increase dramatically"; ε0 × 100 on digits
# jumps 4× at step 1 and recovers, leaving dead units; a healthy run never leaves its first value far behind).
EARLY_RISE = 1.05
EARLY_JUMP = 2.0
# Oscillation: a smooth decreasing curve has no sign change in its differences; i.i.d. noise has 2/3
# of them. Only jumps larger than a quarter of the first loss count, so the minibatch noise of a
# healthy run (under a tenth of it on digits) does not; a third of the steps jumping that much is oscillation.
OSCILLATION_JUMP = 0.25
OSCILLATION_SHARE = 1 / 3
DIVERGED_FACTOR = 10.0  # the divergence guard's factor (training/callbacks.DivergenceGuard)
# --- ε0 too low: "if it is too low the cost function will decrease too slowly". A healthy first epoch
# of the defaults on digits cuts the loss by over 80%; a tenth means ε0 barely moves the weights.
SLOW_DROP = 0.10
# --- Unstable gradients: a spike is a total norm 10× the median of the 20 steps before it (an order of
# magnitude: the norms of a healthy run drift by far less from one step to the next); 3 spikes a run. A norm
# under the largest of the run's first 20 steps is no spike: once a healthy run has converged its norms are tiny
# and one hard minibatch is 10× them (8 such "spikes" in a default digits run, all below its first norms).
SPIKE_WINDOW = 20
SPIKE_FACTOR = 10.0
SPIKE_COUNT = 3
CLIP_QUANTILE = 0.9  # the suggested --gradient-clip-val: the "e.g. their 90th percentile"
# --- Capacity: "Especially if the training error is high": 5 points of training error above the
# reference (--target-error, or the best sibling run on the same data) is more than seed noise on digits.
CAPACITY_MARGIN = 0.05
# --- Regularize: a train–validation accuracy gap of 5 points at the end that grew by 2 points since
# its smallest value in the first half (the validation split of digits has 180 images: 1 image = 0.6 point).
# A regression run's gap is relative, (val − train) / val of its rmse: a quarter, grown by a tenth. Either must
# also pass twice the validation metric's standard error (NOISE_SE; the split's size from the run's steps): on
# breast-cancer's 46 validation rows 5 points are 2 rows. It is a warning when the validation metric has also
# worsened from its best by more than that noise, an info otherwise (the default diabetes run: a 46% gap, its
# val/rmse 2.2 above its best, within the noise of 50 rows).
GAP_LARGE = 0.05
GAP_GROWTH = 0.02
REL_GAP_LARGE, REL_GAP_GROWTH = 0.25, 0.10
NOISE_SE = 2.0
GAP_MIN_EPOCHS = 4  # the first epochs' train/acc averages minibatches while the net still learns: too early to tell
# --- Training length: the best epoch in the first tenth of a run of at least 10 epochs, better than the last by
# more than one standard error (a tie of 180 validation images at epoch 2 is not "much shorter").
SHORT_SHARE = 0.1
SHORT_MIN_EPOCHS = 10
# --- Units (units.py measures them): a quarter of the hidden units saturated (|tanh| > 0.97 or
# σ outside [0.03, 0.97] on 90% of the sampled inputs: gradient under 6% of its peak) or never active.
UNIT_SHARE = 0.25

QUOTES = {
    "lr": "When $\\epsilon_0$ is too high, the cost function may increase dramatically as the algorithm "
    "oscillates; if it is too low the cost function will decrease too slowly. It should be possible to "
    "observe performance over the first few minibatches and alter accordingly.",
    "capacity": "Especially if the training error is high, we should consider expanding the capacity of the "
    "network either with more layers or more hidden units per layer.",
    "regularize": "GBC16 defines regularization as any method that intentionally increases the training error "
    "in the hopes of decreasing the test error.",
    "early_stopping": "GBC16 speaks highly of early stopping, comparing it with weight decay, but Andrew Ng "
    "discourages its use, claiming that it entangles the optimization process with hyperparameter tuning.",
    "tau": "setting $\\tau$ high enough so that we pass through the training set a few hundred times before "
    "the learning rate becomes constant",
    "saturate": "Functions that “saturate at both ends” like sigmoid and tanh are not appropriate for hidden "
    "layers. Instead, ReLU is the preferred default option.",
    "dead": "The intuition is that for the regular ReLU, any instances where $z < 0$ do not contribute to the "
    "gradient and so do not contribute to learning, whereas when $\\alpha > 0$, all nodes contribute to learning.",
}


@dataclass
class Finding:
    id: str
    severity: str
    section: str  # the checklist's heading
    evidence: str
    checklist: str
    flags: list[str]
    figures: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunFacts:
    """What the rules read: the curves, the resolved flags, results.json (None: the run did not finish),
    the unit statistics (units.py) and the reference training error (--target-error or siblings)."""

    curves: Curves
    config: dict
    results: dict | None = None
    units: dict | None = None
    reference_error: float | None = None
    reference_source: str = ""
    monitor: str = ""  # the monitored metric (training/monitor.py), for the training length
    maximize: bool = True


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def lr_too_high(f: RunFacts) -> Finding | None:
    loss, steps = f.curves.values("train/loss"), f.curves.steps("train/loss")
    lr = f.config.get("lr")
    flags = [f"--lr {lr / 10:g}" if isinstance(lr, (int, float)) else "--lr", "--find-lr"]
    if not loss:
        return None
    bad = next((i for i, v in enumerate(loss) if not math.isfinite(v)), None)
    if bad is not None:
        return Finding(
            "lr-too-high",
            "error",
            "Learning rate",
            f"diverged: train/loss became {loss[bad]} at step {steps[bad]} (ε0 = {lr:g})",
            QUOTES["lr"],
            flags,
            {"diverged_step": steps[bad]},
        )
    finite = [v for v in loss if math.isfinite(v)]
    if (
        (f.results is None or f.results.get("diverged"))
        and len(finite) > 3
        and finite[-1] > DIVERGED_FACTOR * finite[0]
    ):
        return Finding(
            "lr-too-high",
            "error",
            "Learning rate",
            f"diverged: train/loss rose from {finite[0]:.3g} "
            f"(step {steps[0]}) to {finite[-1]:.3g} (step {steps[-1]}) with ε0 = {lr:g}",
            QUOTES["lr"],
            flags,
            {"first": finite[0], "last": finite[-1]},
        )
    early = loss[:EARLY_STEPS]
    if len(early) >= 2 and max(early) > EARLY_JUMP * early[0]:
        top = early.index(max(early))
        return Finding(
            "lr-too-high",
            "warning",
            "Learning rate",
            f"train/loss jumped to {early[top]:.3g} at step {steps[top]}, over {EARLY_JUMP:g}× its first value "
            f"({early[0]:.3g}) with ε0 = {lr:g}",
            QUOTES["lr"],
            flags,
            {"jump": early[top] / early[0]},
        )
    if len(early) >= 6:
        start, end = _mean(early[:3]), _mean(early[-3:])
        if end > EARLY_RISE * start:
            return Finding(
                "lr-too-high",
                "warning",
                "Learning rate",
                f"train/loss rose over the first {len(early)} "
                f"minibatches, from {start:.3g} (steps {steps[0]}-{steps[2]}) to {end:.3g} (steps "
                f"{steps[len(early) - 3]}-{steps[len(early) - 1]}) with ε0 = {lr:g}",
                QUOTES["lr"],
                flags,
                {"start": start, "end": end},
            )
    share, jumps = oscillation(loss[: max(EARLY_STEPS, len(f.curves.first_epoch("train/loss")))])
    if share > OSCILLATION_SHARE:
        return Finding(
            "lr-too-high",
            "warning",
            "Learning rate",
            f"train/loss oscillates: {jumps} of its first "
            f"{min(len(loss), max(EARLY_STEPS, len(f.curves.first_epoch('train/loss')))) - 1} steps jump up "
            f"and down by over {OSCILLATION_JUMP:.0%} of its first value ({share:.0%} > {OSCILLATION_SHARE:.0%}) with "
            f"ε0 = {lr:g}",
            QUOTES["lr"],
            flags,
            {"oscillation_share": share},
        )
    return None


def oscillation(loss: list[float]) -> tuple[float, int]:
    """(share, count) of the differences that change sign with jumps above OSCILLATION_JUMP × the first loss."""
    d = [b - a for a, b in zip(loss, loss[1:])]
    count = sum(
        1
        for i in range(1, len(d))
        if d[i] * d[i - 1] < 0 and min(abs(d[i]), abs(d[i - 1])) > OSCILLATION_JUMP * abs(loss[0])
    )
    return (count / len(d) if d else 0.0), count


def lr_too_low(f: RunFacts) -> Finding | None:
    first = f.curves.first_epoch("train/loss")
    if len(first) < 6 or not all(math.isfinite(v) for v in first):
        return None
    start, end = _mean(first[:3]), _mean(first[-3:])
    drop = (start - end) / start if start > 0 else 0.0
    if drop >= SLOW_DROP:
        return None
    lr = f.config.get("lr")
    return Finding(
        "lr-too-low",
        "warning",
        "Learning rate",
        f"train/loss fell by only {drop:.1%} over the first "
        f"epoch ({start:.3g} → {end:.3g}, {len(first)} steps; < {SLOW_DROP:.0%}) with ε0 = {lr:g}",
        QUOTES["lr"],
        [f"--lr {lr * 10:g}" if isinstance(lr, (int, float)) else "--lr", "--find-lr"],
        {"drop": drop},
    )


def unstable_gradients(f: RunFacts) -> Finding | None:
    norms, steps = f.curves.values("train/grad_norm"), f.curves.steps("train/grad_norm")
    spikes, early = [], max(norms[:SPIKE_WINDOW], default=0.0)
    for i in range(SPIKE_WINDOW, len(norms)):
        median = statistics.median(norms[i - SPIKE_WINDOW : i])
        if math.isfinite(norms[i]) and median > 0 and norms[i] > max(SPIKE_FACTOR * median, early):
            spikes.append(i)
    if len(spikes) < SPIKE_COUNT:
        return None
    finite = sorted(v for v in norms if math.isfinite(v))
    clip = finite[min(len(finite) - 1, int(CLIP_QUANTILE * len(finite)))]
    shown = ", ".join(f"{norms[i]:.3g} at step {steps[i]}" for i in spikes[:3])
    return Finding(
        "unstable-gradients",
        "warning",
        "Learning rate",
        f"{len(spikes)} gradient-norm spikes above "
        f"{SPIKE_FACTOR:g}× the median of the {SPIKE_WINDOW} steps before ({shown}); the norms' "
        f"{CLIP_QUANTILE:.0%} percentile is {clip:.3g}",
        QUOTES["lr"],
        [f"--gradient-clip-val {clip:.3g}", "--warmup-steps 100"],
        {"spikes": len(spikes), "clip": clip},
    )


def train_error(f: RunFacts) -> float | None:
    acc = f.curves.per_epoch(f"train/{ACCURACY}")
    return 1.0 - acc[max(acc)] if acc else None


def capacity(f: RunFacts) -> Finding | None:
    error, ref = train_error(f), f.reference_error
    if error is None or ref is None:
        return None
    target = f.reference_source.startswith("--target-error")
    limit = ref if target else ref + CAPACITY_MARGIN
    if error <= limit:
        return None
    c = f.config
    advice = [*ordered_family(c), f"--depth {c.get('depth', 2) + 1}", f"--width {_double(c.get('width'))}"]
    return Finding(
        "capacity",
        "warning",
        "Architecture",
        f"the training error stays at {error:.1%} at the last "
        f"epoch, above {f.reference_source} ({ref:.1%}{'' if target else f' + {CAPACITY_MARGIN:.0%}'})",
        QUOTES["capacity"],
        advice,
        {"train_error": error, "reference": ref},
    )


def ordered_family(c: dict) -> list[str]:
    """An MLP on ordered data: a network that reads the order comes first, for a training error (capacity) as for a
    gap (regularize): the same weights at every place fit what an MLP must learn at each position, with fewer
    parameters. Images: convolutions; a table's --input-shape C,L sequence: a recurrent network. `--width auto`:
    the family's own size (bench_diagnosis.py measures whether following it helps)."""
    spec = DATASETS.get(str(c.get("dataset")))
    if c.get("model") != "mlp":
        return []
    if len(c.get("feature_shape") or []) == 2:
        return ["--model rnn --width auto (or cnn): a sequence, and the domain dictates certain architectures"]
    if spec and spec.kind == "images":
        return ["--model cnn --width auto (or rnn): images, and the domain dictates certain architectures"]
    return []


def _double(width) -> str:
    return str(width * 2) if isinstance(width, int) else "<wider>"


def val_size(f: RunFacts) -> int | None:
    """The validation split's size, from the run's steps per epoch × minibatch × val_fraction / (1 − it)."""
    r, c = f.results or {}, f.config
    steps, epochs, fraction = r.get("steps"), r.get("epochs"), c.get("val_fraction", 0.1)
    limit = c.get("limit_train_batches", 1.0)  # a number of batches says nothing of the split's size
    if not (isinstance(steps, int) and isinstance(epochs, int) and epochs > 0 and 0 < fraction < 1):
        return None
    if not (isinstance(limit, float) and 0 < limit <= 1):
        return None
    train = steps / epochs / limit * c.get("batch_size", 64) * c.get("accumulate_grad_batches", 1)
    return max(1, round(train * fraction / (1 - fraction)))


def noise(f: RunFacts, value: float) -> float:
    """One standard error of the monitored validation metric at `value` (0 when the split's size is unknown):
    √(p(1 − p)/n) for an accuracy, value/√(2n) for an rmse (relative: 1/√(2n))."""
    n = val_size(f)
    if n is None:
        return 0.0
    if f.maximize:
        return math.sqrt(max(value * (1 - value), 1 / n) / n)
    return abs(value) / math.sqrt(2 * n)


def regularize(f: RunFacts) -> Finding | None:
    metric = f.monitor.split("/", 1)[-1] if f.monitor else ACCURACY  # acc, or rmse for regression
    train, val = f.curves.per_epoch(f"train/{metric}"), f.curves.per_epoch(f"val/{metric}")
    epochs = sorted(set(train) & set(val))
    if len(epochs) < GAP_MIN_EPOCHS:
        return None
    relative = not f.maximize  # rmse: (val − train) / val
    gap = [(val[e] - train[e]) / val[e] if relative and val[e] else train[e] - val[e] for e in epochs]
    first_half = gap[: max(1, len(gap) // 2)]
    # The first epochs' training metric averages the minibatches while the net is still learning (worse than
    # the validation's at the epoch's end): a negative early gap counts as none.
    low = min(first_half)
    smallest, at = max(0.0, low), epochs[gap.index(low)] + 1
    growth = gap[-1] - smallest
    large, grown = (REL_GAP_LARGE, REL_GAP_GROWTH) if relative else (GAP_LARGE, GAP_GROWTH)
    se = noise(f, val[epochs[-1]]) / (val[epochs[-1]] or 1 if relative else 1)
    if gap[-1] <= max(large, NOISE_SE * se) or growth <= grown:
        return None
    c = f.config
    flags = [
        x
        for k, x in (
            ("weight_decay", "--weight-decay 1e-4"),
            ("dropout", "--dropout 0.3"),
            ("aug_translate", "--aug-translate 0.1"),
        )
        if not c.get(k)
    ]
    flags = [*ordered_family(c), *flags, "--early-stopping-patience 5 (last: Ng discourages it)"]
    what = f"(val/{metric} − train/{metric}) / val/{metric}" if relative else f"train/{metric} − val/{metric}"
    since = f"{low:.1%} at epoch {at}" if low >= 0 else f"0 (it was {low:.1%} at epoch {at}, counted as none)"
    best = (min if relative else max)(val.values())
    worse = abs(val[epochs[-1]] - best) > NOISE_SE * noise(f, best)
    kept = "" if worse else f"; val/{metric} stays within its noise of its best ({best:.4g})"
    return Finding(
        "regularize",
        "warning" if worse else "info",
        "Regularization",
        f"{what} = {gap[-1]:.1%} at epoch {epochs[-1] + 1}, grown by {growth:.1%} since {since}{kept}",
        QUOTES["regularize"],
        flags,
        {"gap": gap[-1], "growth": growth},
    )


def training_length(f: RunFacts) -> Finding | None:
    val = f.curves.per_epoch(f.monitor)
    if len(val) < 2:
        return None
    epochs = sorted(val)
    sign = 1 if f.maximize else -1
    best = max(epochs, key=lambda e: (sign * val[e], -e))  # the first epoch of the best value (best.ckpt's)
    n, se = len(epochs), noise(f, val[best])
    if n >= SHORT_MIN_EPOCHS and epochs.index(best) < SHORT_SHARE * n and sign * (val[best] - val[epochs[-1]]) > se:
        return Finding(
            "training-length",
            "info",
            "Regularization",
            f"the best {f.monitor} ({val[best]:.4f}) came at "
            f"epoch {best + 1} of {n}, in the first tenth: the run can be much shorter",
            QUOTES["early_stopping"],
            [f"--max-epochs {max(1, 2 * (best + 1))}"],
            {"best_epoch": best + 1},
        )
    if best == epochs[-1] and sign * (val[best] - val[epochs[-2]]) > se:
        return Finding(
            "training-length",
            "info",
            "Learning rate",
            f"{f.monitor} still improving at the last epoch "
            f"({val[epochs[-2]]:.4f} → {val[best]:.4f} at epoch {best + 1})",
            QUOTES["tau"],
            ["--resume last", f"--max-epochs {2 * n}"],
            {"best_epoch": best + 1},
        )
    return None


def units(f: RunFacts) -> Finding | None:
    u = f.units
    if not u or not u.get("units"):
        return None
    if u["activation"] in ("tanh", "sigmoid") and u["saturated"] > UNIT_SHARE:
        return Finding(
            "saturated-units",
            "warning",
            "Activation function",
            f"{u['saturated']:.0%} of the "
            f"{u['units']} hidden {u['activation']} units saturate on {u['inputs']} training inputs through "
            f"the final weights (> {UNIT_SHARE:.0%})",
            QUOTES["saturate"],
            ["--activation leaky-relu --leaky-slope 0.01", "--activation relu"],
            {"share": u["saturated"]},
        )
    if u["activation"] == "relu" and u["dead"] > UNIT_SHARE:
        return Finding(
            "dead-units",
            "warning",
            "Activation function",
            f"{u['dead']:.0%} of the {u['units']} hidden "
            f"ReLU units are never active on {u['inputs']} training inputs through the final weights "
            f"(> {UNIT_SHARE:.0%})",
            QUOTES["dead"],
            ["--activation leaky-relu --leaky-slope 0.01"],
            {"share": u["dead"]},
        )
    return None


def findings(f: RunFacts) -> list[Finding]:
    """Every rule's finding, in the checklist's order; a wrong ε0 (too high or too low) hides capacity."""
    found = [r(f) for r in (lr_too_high, unstable_gradients, capacity, regularize, training_length, units)]
    found = [x for x in found if x is not None]
    # ε0 too low is judged before capacity; dead or saturated units explain a slow loss themselves, and a too-high
    # ε0 rules it out. When both a slow loss and capacity are found, ε0 under a tenth of its default (the stuck
    # guard's LOW_LR) is blamed; at a usual ε0 the network is (1 × 2 units on digits: a 5% first epoch, 73% error).
    if not any(x.id in ("lr-too-high", "dead-units", "saturated-units") for x in found):
        found = [x for x in [lr_too_low(f)] if x is not None] + found
    lr, cap = f.config.get("lr"), any(x.id == "capacity" for x in found)
    if cap and any(x.id == "lr-too-low" for x in found) and not (isinstance(lr, (int, float)) and lr < LOW_LR):
        found = [x for x in found if x.id != "lr-too-low"]
    if any(x.id.startswith("lr-too") for x in found):  # tune ε0 first: its training error says nothing of capacity
        found = [x for x in found if x.id != "capacity"]
    order = ["Learning rate", "Architecture", "Regularization", "Activation function"]
    return sorted(found, key=lambda x: order.index(x.section))
