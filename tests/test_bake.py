"""Bake the template with several answers, then check, lint and test what it generated."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import figure

TEMPLATE = Path(__file__).resolve().parents[1]
PYTHONS = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]

# The files of every bake (the core), and what each optional feature adds ({slug}: the package).
CORE_FILES = {
    ".github/workflows/ci.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "README.md",
    "pyproject.toml",
    "train.py",
    "sweep.yaml",
    "sweeps/stage1_lr.yaml",
    "sweeps/stage2_momentum_batch_width.yaml",
    "sweeps/stage3_depth_decay_regularization.yaml",
    "scripts/slurm.sbatch",
    "{slug}/__init__.py",
    "{slug}/checkpoints.py",
    "{slug}/datasets.py",
    "{slug}/errors.py",
    "{slug}/features.py",
    "{slug}/files.py",
    "{slug}/networks.py",
    "{slug}/sweeps.py",
    "{slug}/commands/__init__.py",
    "{slug}/commands/edges.py",
    "{slug}/commands/options.py",
    "{slug}/commands/sweeps.py",
    "{slug}/commands/train.py",
    "{slug}/config/__init__.py",
    "{slug}/config/agent.py",
    "{slug}/config/checks.py",
    "{slug}/config/declared.py",
    "{slug}/config/environment.py",
    "{slug}/config/flags.py",
    "{slug}/config/parser.py",
    "{slug}/config/reach.py",
    "{slug}/config/resume.py",
    "{slug}/config/types.py",
    "{slug}/config/views.py",
    "{slug}/data/__init__.py",
    "{slug}/data/augment.py",
    "{slug}/data/build.py",
    "{slug}/data/cache.py",
    "{slug}/data/loaders.py",
    "{slug}/data/memory.py",
    "{slug}/data/splits.py",
    "{slug}/data/tasks.py",
    "{slug}/models/__init__.py",
    "{slug}/models/blocks.py",
    "{slug}/models/build.py",
    "{slug}/models/initialization.py",
    "{slug}/training/__init__.py",
    "{slug}/training/build.py",
    "{slug}/training/callbacks.py",
    "{slug}/training/fit.py",
    "{slug}/training/loggers.py",
    "{slug}/training/module.py",
    "{slug}/training/monitor.py",
    "{slug}/training/objectives.py",
    "{slug}/training/optimizers.py",
    "{slug}/training/rundir.py",
    "{slug}/training/schedules.py",
    "{slug}/training/signals.py",
    "{slug}/training/trainer.py",
    "{slug}/training/tuning.py",
    "tests/conftest.py",
    "tests/checkpoint_cases.py",
    "tests/formats.py",
    "tests/wandb_records.py",
    "tests/fixtures/v0-digits-mlp-d1-w16.ckpt",
    "tests/commands/test_sweep_stages.py",
    "tests/commands/test_sweeps.py",
    "tests/commands/test_untrusted_outputs.py",
    "tests/commands/test_untrusted_sweeps.py",
    "tests/data/test_untrusted_inputs.py",
    "tests/checkpoints/test_untrusted_checkpoints.py",
    "tests/training/test_untrusted_training.py",
    "tests/config/test_cli.py",
    "tests/data/test_data.py",
    "tests/checkpoints/test_old_checkpoints.py",
    "tests/models/test_models.py",
    "tests/models/test_networks.py",
    "tests/training/test_console.py",
    "tests/training/test_faults.py",
    "tests/training/test_optim.py",
    "tests/training/test_registries.py",
    "tests/training/test_regularization.py",
    "tests/training/test_run_state.py",
    "tests/training/test_sweep_agent.py",
    "tests/training/test_train.py",
    "tests/training/test_trainer_options.py",
    "tests/training/test_tuning.py",
    "tests/training/test_wandb.py",
    "tests/test_contract.py",
}
FEATURE_FILES = {
    "sweeps_engine": {
        "{slug}/commands/sweeps_run.py",
        *(f"{{slug}}/search/{m}.py" for m in
          ("__init__", "engine", "pruning", "sources", "space", "stopping", "storage", "sweepfile", "trial", "tune")),
        "tests/search/fake_train.py",
        "tests/search/test_search_engine.py",
        "tests/search/test_search_space.py",
        "tests/search/test_search_wandb.py",
        "tests/search/test_tune.py",
        "tests/search/test_untrusted_sweeps_run.py",
    },
    "inference": {
        "predict.py",
        "export.py",
        "{slug}/commands/predict.py",
        "{slug}/commands/export.py",
        "{slug}/commands/evaluate.py",
        "{slug}/inference/__init__.py",
        "{slug}/inference/inputs.py",
        "{slug}/inference/outputs.py",
        "tests/inference/test_export.py",
        "tests/inference/test_predict.py",
        "tests/inference/test_untrusted_predict.py",
        "tests/inference/test_untrusted_checkpoints_inference.py",
        "tests/inference/test_old_checkpoints_inference.py",
        "tests/commands/test_untrusted_outputs_inference.py",
    },
    "fast_wandb": {"{slug}/training/background.py", "tests/training/test_background_wandb.py"},
    "diagnostics": {
        "{slug}/diagnose.py",
        "{slug}/commands/diagnose.py",
        "{slug}/commands/repeat.py",
        "{slug}/commands/sweeps_report.py",
        *(f"{{slug}}/analysis/{m}.py" for m in
          ("__init__", "curves", "diagnose", "report", "rules", "run", "sources", "units")),
        "tests/analysis/test_diagnose_runs.py",
        "tests/analysis/test_rules.py",
        "tests/commands/test_report.py",
        "tests/training/test_profiler_tensorboard.py",
        "tests/analysis/test_untrusted_reports.py",
    },
    "tables": {
        "{slug}/data/tables.py",
        "{slug}/data/targets.py",
        "tests/data/test_tables.py",
        "tests/data/test_regression_data.py",
        "tests/training/test_regression.py",
        "tests/data/test_untrusted_tables.py",
    },
    "backbones": {"{slug}/models/backbones.py", "tests/models/test_backbones.py", "tests/models/test_untrusted_backbones.py"},
    "streaming": {
        "{slug}/prepare.py",
        "{slug}/commands/prepare.py",
        "{slug}/data/streaming.py",
        "tests/data/test_streaming.py",
        "tests/data/test_untrusted_shards.py",
        "tests/data/test_untrusted_streaming.py",
        "tests/commands/test_untrusted_outputs_streaming.py",
        "tests/record_ids.py",
    },
    "benchmarks": {
        "benchmarks/bench_architectures.py",
        "benchmarks/bench_overhead.py",
        "benchmarks/bench_sigterm.py",
        "benchmarks/bench_steps.py",
    },
}
# Tests of two features at once: in a bake that has both.
TESTS_OF_TWO = {
    "tests/commands/test_report_optuna.py": ("sweeps_engine", "diagnostics"),
    "tests/inference/test_tables_inference.py": ("inference", "tables"),
    "tests/inference/test_untrusted_predict_tables.py": ("inference", "tables"),
    "tests/data/test_streaming_tables.py": ("streaming", "tables"),
    "tests/config/test_backbone_flags.py": ("backbones", "tables"),
}
# A benchmark of a feature comes when both it and the benchmarks are baked in.
BENCHMARKS_OF = {
    "sweeps_engine": {"benchmarks/bench_sweeps.py", "benchmarks/bench_tuning.py", "tests/commands/test_bench_tuning.py"},
    "inference": {"benchmarks/bench_predict.py"},
    "fast_wandb": {"benchmarks/bench_wandb.py"},
    "tables": {"benchmarks/bench_tables.py"},
    "backbones": {"benchmarks/bench_finetune.py"},
    "diagnostics": {"benchmarks/bench_diagnosis.py"},
    "streaming": {"benchmarks/bench_streaming.py"},
}
FEATURES = tuple(FEATURE_FILES)
CORE = dict.fromkeys(FEATURES, False)
FULL = dict.fromkeys(FEATURES, True)
# Each feature's flags and commands: listed by --help only in a bake that has it.
FEATURE_FLAGS = {
    "backbones": ["--pretrained", "torchvision:", "timm:"],
    "tables": ["--target", "--features", "breast-cancer", "diabetes", "--task-types", "--regression-loss", "--huber-delta"],
    "diagnostics": ["--no-diagnose", "--target-error", "--profiler", "--tensorboard"],
    "inference": ["--test-only"],
    "streaming": ["streaming"],
}


def expected_files(context: dict) -> set[str]:
    files = set(CORE_FILES)
    for feature, on in ((f, context[f]) for f in FEATURES):
        if on:
            files |= FEATURE_FILES[feature]
            if context["benchmarks"]:
                files |= BENCHMARKS_OF.get(feature, set())
    files |= {f for f, both in TESTS_OF_TWO.items() if all(context[x] for x in both)}
    return {f.format(slug=context["project_slug"]) for f in files}


ANSWERS = {
    "defaults": {},
    "entity": {"project_name": "Digit Lab", "author": "Ada", "wandb_entity": "my-team", "python_version": "3.11"},
    "slug": {"project_name": "x", "project_slug": "zz_checklist", "wandb_project": "sweeps-2026",
             "default_dataset": "mnist"},
    "core": CORE,
    "full": FULL,
    **{f"only-{f}": {**CORE, f: True} for f in FEATURES},
}


def files_of(root: Path) -> set[str]:
    skip = {"__pycache__", ".pytest_cache", ".ruff_cache", "runs"}
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not skip & set(p.parts)}


@pytest.fixture(scope="session", params=list(ANSWERS.values()), ids=list(ANSWERS))
def baked(request, cookies_session):
    """One bake per answer set, shared by the tests that only read it (each worker bakes it once)."""
    result = cookies_session.bake(extra_context=request.param)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path), result.context


def test_file_set_and_rendering(baked):
    root, context = baked
    slug = context["project_slug"]
    assert root.name == slug
    expected = expected_files(context)
    found = files_of(root)
    # Every file outside tests/ is expected exactly; tests/ holds at least the expected files, grouped
    # per sub-package (tests/<sub-package>/test_*.py) beside the shared helpers and fixtures.
    assert found == expected, (found - expected, expected - found)
    for rel in found - {f"tests/fixtures/{p.name}" for p in (root / "tests" / "fixtures").iterdir()}:
        text = (root / rel).read_text().replace("${{", "")  # GitHub's own expressions stay in ci.yml
        assert "{{" not in text and "{%" not in text, rel
    assert "${{" in (root / ".github/workflows/ci.yml").read_text()
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == slug
    assert project["requires-python"] == f">={context['python_version']}"
    cli = (root / slug / "config" / "flags.py").read_text()
    assert f'"wandb_project", LOG, "{context["wandb_project"]}"' in cli
    for sweep in ["sweep.yaml", *(f"sweeps/{p.name}" for p in (root / "sweeps").iterdir())]:
        sweep = yaml.safe_load((root / sweep).read_text())
        assert sweep["project"] == context["wandb_project"]
        assert sweep.get("entity") == (context["wandb_entity"] or None)


def test_ruff_passes_on_the_generated_project(baked):
    root, _ = baked
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=root, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


# Every flag of the checklist's sections (../shared/CLI.md), in every bake, whatever was answered.
CHECKLIST_FLAGS = (
    "--lr --lr-schedule --lr-tau --lr-final-ratio --lr-decay --lr-step-epochs --warmup-steps --find-lr --auto-lr "
    "--plot-lr-schedule --optimizer --momentum --nesterov --beta2 --eps --batch-size --find-batch-size "
    "--find-batch-size-max --gradient-clip-val --batchnorm --bn-position --bn-momentum --bn-eps --sync-batchnorm "
    "--model --depth --width --rnn-cell --init --init-variance --bias-init --output-bias --weight-decay --l1 "
    "--dropout --input-dropout --aug-translate --aug-scale --aug-rotate --aug-mirror --aug-skew --aug-blur "
    "--aug-contrast --aug-preview --adversarial --adv-eps --adv-steps --adv-weight --early-stopping-patience "
    "--early-stopping-min-delta --tasks --task-weights --activation "
    "--leaky-slope --maxout-pieces --dataset --data-dir --download --val-fraction --num-workers --max-epochs "
    "--max-steps --seed --deterministic --fast-dev-run --limit-train-batches --limit-val-batches --accelerator "
    "--devices --strategy --num-nodes --precision --accumulate-grad-batches --compile --resume --output-dir "
    "--run-name --wandb-mode --wandb-project --wandb-entity --wandb-tags --wandb-log-model --wandb-watch "
    "--freeze-backbone --backbone-lr-ratio --log-every-n-steps --val-check-interval "
    "--check-val-every-n-epoch --num-sanity-val-steps --detect-anomaly --benchmark"
).split()


def test_help_lists_every_checklist_flag_and_only_the_baked_features(baked):
    """--help lists every checklist flag in every bake; a feature's flags, datasets, model names and
    subcommands only where it was answered yes."""
    root, context = baked
    run = lambda *a: subprocess.run([sys.executable, *a], cwd=root, capture_output=True, text=True)
    shown = run("train.py", "--help")
    assert shown.returncode == 0, shown.stderr
    words = set(re.findall(r"--[a-z0-9-]+", shown.stdout))
    assert not [f for f in CHECKLIST_FLAGS if f not in words]
    for feature, names in FEATURE_FLAGS.items():
        for name in names:
            listed = name in words if name.startswith("--") else name in shown.stdout
            assert listed == bool(context[feature]), (feature, name)
    sweeps = run("-m", f"{context['project_slug']}.sweeps", "--help")
    assert sweeps.returncode == 0 and "next" in sweeps.stdout, sweeps.stderr
    assert ("run" in sweeps.stdout.split("{")[1].split("}")[0].split(",")) == bool(context["sweeps_engine"])
    assert ("report" in sweeps.stdout) == bool(context["diagnostics"])
    if not context["sweeps_engine"]:
        said = run("-m", f"{context['project_slug']}.sweeps", "run", "sweep.yaml", "--trials", "2")
        assert said.returncode == 2 and "Traceback" not in said.stderr and said.stderr.count("\n") <= 3


def test_readme_layout_names_exactly_the_bakes_modules(baked):
    """The generated README's Layout table: every module of the package is named in its folder's row,
    and every file a row names exists in this bake (a feature answered no leaves no row behind)."""
    root, context = baked
    slug = context["project_slug"]
    readme = (root / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    for where, concern in re.findall(r"^\| (.+?) \| (.+) \|$", layout, re.M):
        for place in re.findall(r"`([^`]+)`", where):
            if place.endswith("/") and place.startswith(f"{slug}/"):
                folder = root / place
                assert folder.is_dir(), place
                mentioned = {m for m in re.findall(r"`([\w/]+\.py)`", concern) if "/" not in m}
                here = {p.name for p in folder.glob("*.py")}
                mentioned -= {p.name for p in root.glob("*.py")} - here  # the project's scripts, named in passing
                assert mentioned <= here, (place, mentioned)
                named |= {f"{place}{m}" for m in mentioned}
            elif place.endswith(".py"):
                path = place if "/" in place else f"{slug}/{place}"
                assert (root / place).is_file() or (root / path).is_file(), place
                named.add(place if (root / place).is_file() else path)
    modules = {p.relative_to(root).as_posix() for p in (root / slug).rglob("*.py") if p.name != "__init__.py"}
    assert not modules - named, sorted(modules - named)


def test_generated_help_and_print_config(baked):
    root, context = baked
    run = lambda *a: subprocess.run([sys.executable, "train.py", *a], cwd=root, capture_output=True, text=True)
    assert run("--help").returncode == 0
    printed = run("--print-config")
    assert printed.returncode == 0
    assert f"wandb_project: {context['wandb_project']}" in printed.stdout
    entity = context["wandb_entity"] or "null"
    assert f"wandb_entity: {entity}" in printed.stdout
    assert f"dataset: {context['default_dataset']}" in printed.stdout


def package_lines(root: Path) -> int:
    """Lines of Python in the package (what `find <pkg> -name '*.py' | xargs wc -l` prints)."""
    return sum(len(p.read_text().splitlines()) for p in (root / root.name).rglob("*.py"))


def run_suite(root: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=5", *args],
                           cwd=root, capture_output=True, text=True, env=env)
    return tests, time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("name", ["core", "full"])
def test_generated_project_passes_its_own_tests(cookies, name):
    """The bake's whole suite as its README says to run it (plain `pytest`); the core bake's package is
    at most 5,000 lines. Its lines and the suite's time are printed (a figure, not a timed assertion)."""
    root = Path(cookies.bake(extra_context={**ANSWERS[name], "project_name": f"{name} bake"}).project_path)
    tests, seconds = run_suite(root)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert re.search(r"\d+ passed", tests.stdout)
    lines = package_lines(root)
    figure(f"[{name} bake] package: {lines} lines of Python; pytest: {seconds:.0f} s "
           f"({tests.stdout.strip().splitlines()[-1]})")


@pytest.mark.slow
def test_the_full_bake_passes_its_slow_tests(cookies):
    """The training tests behind the `slow` marker (the generated CI runs them as `pytest -m slow`)."""
    root = Path(cookies.bake(extra_context={**FULL, "project_name": "slow bake"}).project_path)
    tests, seconds = run_suite(root, "-m", "slow")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    figure(f"[full bake] pytest -m slow: {seconds:.0f} s ({tests.stdout.strip().splitlines()[-1]})")


def changed_tests(root: Path, core: Path) -> list[str]:
    """The test files of a bake that its core bake (same name) lacks or renders differently: the
    feature's own tests and the core tests it extends. Every test of the core runs in the core bake and
    in the full bake already; a shared test helper that differs (conftest, formats) means all of them."""
    def texts(base: Path) -> dict[str, str]:
        return {p.relative_to(base).as_posix(): p.read_text() for p in (base / "tests").rglob("*.py")}

    mine, cores = texts(root), texts(core)
    changed = sorted(f for f, text in mine.items() if cores.get(f) != text)
    if any(not Path(f).name.startswith("test_") for f in changed):
        return ["tests"]
    return changed


@pytest.mark.slow
@pytest.mark.parametrize("feature", FEATURES)
def test_each_feature_alone_passes_its_tests(cookies, feature):
    """A bake with only this feature passes the tests it adds or changes (the core's others run in the
    core and full bakes), and its package imports with this feature alone attached."""
    name = {"project_name": f"only {feature}"}
    root = Path(cookies.bake(extra_context={**ANSWERS[f"only-{feature}"], **name}).project_path)
    core = Path(cookies.bake(extra_context={**CORE, **name}).project_path)
    chosen = changed_tests(root, core)
    if not chosen:  # a feature without tests of its own (the benchmarks' scripts): they compile
        tests = subprocess.run([sys.executable, "-m", "compileall", "-q", "benchmarks"], cwd=root,
                               capture_output=True, text=True)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        return
    tests, seconds = run_suite(root, *chosen)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    what = "its whole suite (a shared test helper differs)" if chosen == ["tests"] else f"the {len(chosen)} test files it adds or changes"
    figure(f"[only {feature}] package: {package_lines(root)} lines; pytest over {what}: {seconds:.0f} s "
           f"({tests.stdout.strip().splitlines()[-1]})")


def test_non_embedded_default_dataset_asks_for_its_files(cookies, tmp_path):
    root = Path(cookies.bake(extra_context={"default_dataset": "mnist"}).project_path)
    run = subprocess.run([sys.executable, "train.py", "--data-dir", str(tmp_path)], cwd=root, capture_output=True,
                         text=True)
    assert run.returncode == 2 and "MNIST/raw/" in run.stderr and "--download" in run.stderr
    assert "Traceback" not in run.stderr
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/config/test_cli.py",
                            "tests/data/test_data.py"], cwd=root, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout[-3000:]


@pytest.mark.parametrize("slug", ["torch", "lightning", "wandb", "test", "1project", "my-project", "class", "os"])
def test_invalid_slug_is_refused(cookies, slug):
    result = cookies.bake(extra_context={"project_slug": slug})
    assert result.exit_code != 0
    assert result.project_path is None or not Path(result.project_path).exists()


def test_test_requirements_cover_the_generated_dependencies(cookies):
    root = Path(cookies.bake().project_path)
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    needed = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    listed = (TEMPLATE / "requirements-test.txt").read_text().split()
    assert set(needed) <= set(listed)


# Floors past known advisories: torch.load reads weights only by default from torch 2.6; Lightning
# before 2.6.6 imported and called a checkpoint's `_instantiator` (#21822), and 2.6.2/2.6.3 were
# compromised releases (#21691).
FLOORS = {"torch": (2, 6), "lightning": (2, 6, 6)}


def test_dependency_floors_hold_everywhere_the_project_pins(cookies):
    from packaging.requirements import Requirement

    root = Path(cookies.bake().project_path)
    pinned = {
        "pyproject.toml": tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"],
        "requirements-test.txt": [
            line.split("#")[0].strip() for line in (TEMPLATE / "requirements-test.txt").read_text().splitlines()
        ],
        "ci.yml": re.findall(r"'([a-z]+[<>=][^']+)'", (root / ".github/workflows/ci.yml").read_text()),
    }
    for where, lines in pinned.items():
        found = {r.name: r for r in map(Requirement, (x for x in lines if x[:1].isalpha())) if r.name in FLOORS}
        if where == "ci.yml":
            assert set(found) == {"torch"}, found  # lightning comes with the project's own pins
        else:
            assert set(found) == set(FLOORS), (where, found)
        for name, req in found.items():
            below = ".".join(map(str, FLOORS[name][:-1] + (FLOORS[name][-1] - 1,)))
            assert not req.specifier.contains(below) and req.specifier.contains(".".join(map(str, FLOORS[name]))), (
                where,
                str(req),
            )


def test_readme_commands_match_ci():
    readme = (TEMPLATE / "README.md").read_text()
    blocks = re.findall(r"<!-- (\w[\w-]*) -->\n```bash\n(.*?)\n```\n<!-- /\1 -->", readme, re.S)
    assert [name for name, _ in blocks] == ["train-command", "test-command"]
    assert all("\n" not in cmd for _, cmd in blocks), "each README command is one line"
    assert "bash .ci/run" not in blocks[1][1]


def test_the_template_readme_tree_names_every_part_of_the_full_bake(cookies):
    """"What you get" names every top-level file and folder of the full bake and of its package."""
    root = Path(cookies.bake(extra_context={**FULL, "project_name": "lightning project"}).project_path)
    tree = (TEMPLATE / "README.md").read_text().split("## What you get", 1)[1].split("\n## ", 1)[0]
    package = root / "lightning_project"
    parts = [p.name + ("/" if p.is_dir() else "") for p in [*root.iterdir(), *package.iterdir()]]
    missing = [p for p in parts if not p.startswith((".", "__")) and p != "__init__.py" and p not in tree]
    assert not missing, missing


def test_the_install_line_names_every_extra_of_the_bake(baked):
    """In every bake the README's one install line holds exactly the extras its pyproject declares."""
    root, _ = baked
    (line,) = re.findall(r"pip install -e '\.\[([a-z,]+)\]'", (root / "README.md").read_text())
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(line.split(",")) == set(extras), (line, sorted(extras))


def test_one_install_path(cookies):
    """The template README's first command installs what the default bake's README installs (its one
    install line), and the generated CI installs the same."""
    root = Path(cookies.bake(extra_context={"project_name": "install path"}).project_path)
    install = re.compile(r"pip install -e '(\.\[[a-z,]+\])'")
    generated = install.findall((root / "README.md").read_text())
    assert len(generated) == 1, generated  # stated once
    first = install.findall((TEMPLATE / "README.md").read_text().split("<!-- train-command -->")[1])[0]
    assert first == generated[0] and {"dev"} <= set(first[2:-1].split(","))
    assert install.findall((root / ".github" / "workflows" / "ci.yml").read_text()) == generated
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(first[2:-1].split(",")) == set(extras)  # every extra the bake declares, and only those


def version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


@pytest.mark.parametrize("python", PYTHONS)
def test_ci_matrix_follows_the_python_answer(cookies, python):
    from packaging.specifiers import SpecifierSet

    root = Path(cookies.bake(extra_context={"python_version": python}).project_path)
    job = yaml.safe_load((root / ".github/workflows/ci.yml").read_text())["jobs"]["test"]
    matrix = job["strategy"]["matrix"]["python-version"]
    newest = max(PYTHONS, key=version)
    assert matrix == sorted({python, newest}, key=version)
    requires = SpecifierSet(tomllib.loads((root / "pyproject.toml").read_text())["project"]["requires-python"])
    assert all(requires.contains(v) for v in matrix), (matrix, requires)  # pip installs it on each
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    assert setup["with"]["cache"] == "pip" and (root / setup["with"]["cache-dependency-path"]).is_file()
    runs = [s["run"] for s in job["steps"] if "run" in s]
    torch = next(i for i, r in enumerate(runs) if r.startswith("pip install") and "torch" in r.split()[2])
    project = next(i for i, r in enumerate(runs) if r.startswith("pip install -e"))
    assert runs[torch].endswith("--index-url https://download.pytorch.org/whl/cpu") and torch < project
    readme = (root / "README.md").read_text()
    assert runs[torch] in readme and runs[project] in readme  # the CI installs the way the README says


def installed_python(v: str) -> str | None:
    """An interpreter for Python `v` on this machine: on PATH, or under pyenv's versions."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [shutil.which(f"python{v}"), *sorted(glob.glob(f"{pyenv}/versions/{v}.*/bin/python{v}"))[::-1]]
    for exe in filter(None, candidates):  # a pyenv shim exists for every version but may refuse to run
        probe = subprocess.run([exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == v:
            return exe
    return None


RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.parametrize("python", [v for v in PYTHONS if v != RUNNING])
def test_quick_suite_passes_on_every_offered_python(cookies, tmp_path, python):
    """The generated command-line tests (marker `cli`: no torch) on each other Python the template
    offers, in a fresh venv with only pytest and PyYAML; the full suite runs on this Python (slow test)."""
    exe = installed_python(python)
    if exe is None:
        pytest.skip(f"Python {python} is not installed on this machine")
    venv = tmp_path / "venv"
    subprocess.run([exe, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    py = str(venv / "bin" / "python")
    # This interpreter's pip installs into the venv (faster than bootstrapping a pip inside it).
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "pyyaml", "pytest"],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    root = Path(cookies.bake(extra_context={"python_version": python}).project_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    # The files with tests marked `cli` (they import no torch at module level; the others do).
    files = [str(p.relative_to(root)) for p in sorted((root / "tests").rglob("test_*.py"))
             if "pytest.mark.cli" in p.read_text()]
    assert "tests/config/test_cli.py" in files
    tests = subprocess.run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cli", *files], cwd=root,
                           env=env, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert re.search(r"\d+ passed", tests.stdout)


def tool_env(tmp_path: Path) -> dict:
    """The environment a user has after `pip install -e '.[dev]'`: this interpreter's scripts first on
    PATH; pre-commit's cache under tmp_path; git without the user's settings."""
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(cwd: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)


def test_pre_commit_passes_offline_on_a_fresh_bake(cookies, tmp_path):
    """Every hook is a `repo: local` hook on a tool of the dev extra (nothing to download); the
    generated files pass them all unchanged: ruff check, ruff format, whitespace, YAML, TOML."""
    root = Path(cookies.bake().project_path)
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    assert [r["repo"] for r in config["repos"]] == ["local"]
    hooks = {h["id"] for h in config["repos"][0]["hooks"]}
    assert {"ruff-check", "ruff-format", "trailing-whitespace", "end-of-file-fixer", "check-yaml"} <= hooks
    env = tool_env(tmp_path)
    git(root, "init", "-q", env=env)
    git(root, "add", "-A", env=env)
    run = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--show-diff-on-failure"],
                         cwd=root, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert git(root, "diff", "--name-only", env=env).stdout == ""  # no hook changed a file


def test_cruft_update_applies_a_template_change_and_reports_a_conflict(tmp_path):
    """`cruft create` from a git copy of this template; a template commit then reaches a project with
    `cruft update -y` (non-interactive); a project that edited the same line gets a git conflict."""
    env = tool_env(tmp_path)
    cruft = lambda cwd, *a: subprocess.run([sys.executable, "-m", "cruft", *a], cwd=cwd, env=env,
                                           capture_output=True, text=True)
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ruff_cache", "runs", "wandb"))
    git(template, "init", "-q", env=env)
    git(template, "add", "-A", env=env)
    git(template, "commit", "-qm", "template", env=env)
    projects = {}
    for name in ("clean", "edited"):
        made = cruft(tmp_path, "create", "--no-input", "--output-dir", str(tmp_path / name), str(template))
        assert made.returncode == 0, made.stderr[-2000:]
        projects[name] = root = tmp_path / name / "lightning_project"
        assert json.loads((root / ".cruft.json").read_text())["template"] == str(template)
        git(root, "init", "-q", env=env)
        git(root, "add", "-A", env=env)
        git(root, "commit", "-qm", "generated", env=env)
    edited = projects["edited"] / ".gitignore"
    edited.write_text(edited.read_text().replace("\nruns/\n", "\nexperiments/\n"))
    git(projects["edited"], "commit", "-qam", "own output folder", env=env)
    change = template / "{{cookiecutter.project_slug}}" / ".gitignore"
    change.write_text(change.read_text().replace("\nruns/\n", "\n/runs/\n"))
    git(template, "commit", "-qam", "ignore only the top-level runs/", env=env)

    clean = projects["clean"]
    assert cruft(clean, "check").returncode != 0  # behind the template
    updated = cruft(clean, "update", "-y")
    assert updated.returncode == 0, updated.stdout[-2000:] + updated.stderr[-2000:]
    assert "\n/runs/\n" in (clean / ".gitignore").read_text()
    assert cruft(clean, "check").returncode == 0

    conflicted = cruft(projects["edited"], "update", "-y")
    text = edited.read_text()
    assert "<<<<<<<" in text and "experiments/" in text and "/runs/" in text, text  # both sides, for the user
    assert "with conflicts" in conflicted.stderr
    assert git(projects["edited"], "status", "--porcelain", env=env).stdout.count("UU .gitignore") == 1


# The last template commit before the bake-time questions: projects made from it have every feature.
PREVIOUS_TEMPLATE = "6a904df"


def test_a_project_of_the_previous_template_updates_with_cruft(tmp_path):
    """A project made by the template before the questions existed (every feature in it) takes this
    template's changes with `cruft update`, answering yes to every new question (the same answers it
    was made with): the diff applies without a conflict and the project's command line works."""
    env = tool_env(tmp_path)
    template = tmp_path / "template"
    cloned = subprocess.run(["git", "clone", "-q", str(TEMPLATE), str(template)], capture_output=True, text=True,
                            env=env)
    if cloned.returncode != 0 or subprocess.run(["git", "cat-file", "-e", f"{PREVIOUS_TEMPLATE}^{{commit}}"],
                                                cwd=template, env=env).returncode != 0:
        pytest.skip(f"this checkout has no history back to {PREVIOUS_TEMPLATE} (a shallow clone?)")
    cruft = lambda cwd, *a: subprocess.run([sys.executable, "-m", "cruft", *a], cwd=cwd, env=env,
                                           capture_output=True, text=True)
    made = cruft(tmp_path, "create", "--no-input", "--checkout", PREVIOUS_TEMPLATE, "--output-dir",
                 str(tmp_path / "old"), str(template))
    assert made.returncode == 0, made.stderr[-2000:]
    root = tmp_path / "old" / "lightning_project"
    assert (root / "predict.py").is_file() and (root / "lightning_project" / "analysis").is_dir()
    git(root, "init", "-q", env=env)
    git(root, "add", "-A", env=env)
    git(root, "commit", "-qm", "generated", env=env)
    # The template as it is now (this working tree), committed on top of the clone's history.
    for p in template.iterdir():
        if p.name != ".git":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    shutil.copytree(TEMPLATE, template, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ruff_cache", "runs", "wandb"))
    git(template, "add", "-A", env=env)
    git(template, "commit", "-qm", "now", "--allow-empty", env=env)
    updated = cruft(root, "update", "-y", "--variables-to-update", json.dumps(FULL))
    assert updated.returncode == 0, updated.stdout[-2000:] + updated.stderr[-2000:]
    assert "conflict" not in (updated.stdout + updated.stderr).lower()
    status = git(root, "status", "--porcelain", env=env).stdout
    assert "UU " not in status and not list(root.rglob("*.rej")), status
    assert cruft(root, "check").returncode == 0
    assert (root / "lightning_project" / "features.py").is_file()
    assert not (root / "lightning_project" / "inference" / "checkpoints.py").exists()  # moved to the core
    shown = subprocess.run([sys.executable, "train.py", "--help"], cwd=root, capture_output=True, text=True)
    assert shown.returncode == 0 and "--pretrained" in shown.stdout and "--target-error" in shown.stdout
