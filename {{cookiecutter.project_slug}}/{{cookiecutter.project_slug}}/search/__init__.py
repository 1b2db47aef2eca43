"""The local sweep engine: W&B sweep files run with Optuna (space.py: the parameters as Optuna
distributions; engine.py: the runner; trial.py/pruning.py: the hook inside each trial's process;
sources.py and stages.py: the runs a stage produced and the next stage's file). Importing this
package imports nothing heavy: optuna is imported by the functions that need it."""
