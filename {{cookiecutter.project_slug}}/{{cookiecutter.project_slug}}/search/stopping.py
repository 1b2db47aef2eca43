"""W&B's `early_terminate: hyperband` as an Optuna pruner, so that a sweep file stops the same runs
under `sweeps run` as under W&B's own sweep controller.

Written by hand because no library does it: Optuna's HyperbandPruner is Li et al.'s Hyperband
(several brackets of successive halving; the most conservative bracket never stops a trial), while
W&B runs one ladder of bands over all the runs of the sweep. W&B's own code for it (the `sweeps`
package, `hyperband_stop_runs`) pins numpy<2, which torch's wheels do not allow. Its rule, which this
follows line for line:

- bands: min_iter, min_iter·η, min_iter·η², … ; or, from max_iter and s, max_iter/η, …, max_iter/η^s
  (whole numbers ≥ 1);
- the threshold of a band: over every run of the sweep that has reached it (finished, stopped or
  running), the value at that iteration, sorted best first; the one at position ⌊n/η⌋;
- a running run is stopped when its best value so far (`strict: true`: its value at the band) is
  worse than the threshold of the highest band it has reached.

An iteration is one logged value of the metric: one validation, the step the trial reports.
"""

import math

import optuna


class WandbHyperband(optuna.pruners.BasePruner):
    def __init__(self, bands: list[int], eta: int, strict: bool = True, skip=lambda trials: set()):
        """`skip(trials)`: the numbers of the trials outside the sweep (engine.not_counted: a trial
        asked again after its runner died, whose retry reports the same run again)."""
        if not bands:
            raise ValueError("hyperband needs at least one band: raise max_iter, or lower eta or s")
        self.bands, self.eta, self.strict, self.skip = bands, eta, strict, skip

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0  # lower is better
        mine = history(trial, sign)
        reached = [b for b in self.bands if b <= len(mine)]
        if not mine or not reached:
            return False
        band = reached[-1]
        trials = study.get_trials(deepcopy=False)
        skip = self.skip(trials)
        others = (history(t, sign) for t in trials if t.number not in skip)
        values = sorted(h[band - 1] for h in others if len(h) >= band)  # W&B: h[band - 1] if len(h) >= band
        if not values:  # only a trial asked again has reached it: W&B's threshold is then infinite
            return False
        threshold = values[int((1.0 / self.eta) * len(values))]  # W&B's r = 1/η, as it writes it
        return (mine[band - 1] if self.strict else min(mine)) > threshold


def history(trial: optuna.trial.FrozenTrial, sign: float) -> list[float]:
    """The trial's logged values in order, finite ones only (W&B's metric_history(filter_invalid=True)),
    signed so that lower is better."""
    steps = sorted(trial.intermediate_values)
    return [sign * trial.intermediate_values[k] for k in steps if math.isfinite(trial.intermediate_values[k])]
