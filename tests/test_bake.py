"""Bake the template with several answers, then check, lint and test what it generated."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[1]
VERBATIM = {".github/workflows/ci.yml"}  # _copy_without_render: GitHub's own ${{ }} syntax

EXPECTED_FILES = {
    ".github/workflows/ci.yml",
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "train.py",
    "sweep.yaml",
    "sweeps/stage1_lr.yaml",
    "sweeps/stage2_momentum_batch_width.yaml",
    "sweeps/stage3_depth_decay_regularization.yaml",
    "scripts/slurm.sbatch",
    "benchmarks/bench_architectures.py",
    "benchmarks/bench_overhead.py",
    "benchmarks/bench_steps.py",
    "benchmarks/bench_streaming.py",
    "{slug}/__init__.py",
    "{slug}/augment.py",
    "{slug}/callbacks.py",
    "{slug}/cli.py",
    "{slug}/data.py",
    "{slug}/datasets.py",
    "{slug}/flags.py",
    "{slug}/init.py",
    "{slug}/models.py",
    "{slug}/module.py",
    "{slug}/optim.py",
    "{slug}/prepare.py",
    "{slug}/run.py",
    "{slug}/streaming.py",
    "{slug}/tables.py",
    "{slug}/tasks.py",
    "{slug}/tracking.py",
    "{slug}/tuning.py",
    "tests/conftest.py",
    "tests/test_cli.py",
    "tests/test_data.py",
    "tests/formats.py",
    "tests/test_models.py",
    "tests/test_optim.py",
    "tests/test_regularization.py",
    "tests/test_sweeps.py",
    "tests/test_streaming.py",
    "tests/record_ids.py",
    "tests/test_tables.py",
    "tests/test_tuning.py",
    "tests/test_wandb.py",
    "tests/test_train.py",
    "tests/wandb_records.py",
}

ANSWERS = [
    {},
    {"project_name": "Digit Lab", "author": "Ada", "wandb_entity": "my-team", "python_version": "3.11"},
    {"project_name": "x", "project_slug": "zz_checklist", "wandb_project": "sweeps-2026",
     "default_dataset": "mnist"},
]


def files_of(root: Path) -> set[str]:
    skip = {"__pycache__", ".pytest_cache", ".ruff_cache", "runs"}
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not skip & set(p.parts)}


@pytest.fixture(params=ANSWERS, ids=["defaults", "entity", "slug"])
def baked(request, cookies):
    result = cookies.bake(extra_context=request.param)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path), result.context


def test_file_set_and_rendering(baked):
    root, context = baked
    slug = context["project_slug"]
    assert root.name == slug
    expected = {f.format(slug=slug) for f in EXPECTED_FILES}
    assert files_of(root) == expected
    for rel in expected - VERBATIM:
        text = (root / rel).read_text()
        assert "{{" not in text and "{%" not in text, rel
    assert "${{" in (root / ".github/workflows/ci.yml").read_text()
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == slug
    assert project["requires-python"] == f">={context['python_version']}"
    cli = (root / slug / "flags.py").read_text()
    assert f'"wandb_project", LOG, "{context["wandb_project"]}"' in cli
    for sweep in ["sweep.yaml", *(f"sweeps/{p.name}" for p in (root / "sweeps").iterdir())]:
        sweep = yaml.safe_load((root / sweep).read_text())
        assert sweep["project"] == context["wandb_project"]
        assert sweep.get("entity") == (context["wandb_entity"] or None)


def test_ruff_passes_on_the_generated_project(baked):
    root, _ = baked
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


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


@pytest.mark.slow
def test_generated_project_passes_its_own_tests(cookies, tmp_path):
    result = cookies.bake()
    root = Path(result.project_path)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                           capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert re.search(r"\d+ passed", tests.stdout)


def test_non_embedded_default_dataset_asks_for_its_files(cookies, tmp_path):
    root = Path(cookies.bake(extra_context={"default_dataset": "mnist"}).project_path)
    run = subprocess.run([sys.executable, "train.py", "--data-dir", str(tmp_path)], cwd=root, capture_output=True,
                         text=True)
    assert run.returncode == 2 and "MNIST/raw/" in run.stderr and "--download" in run.stderr
    assert "Traceback" not in run.stderr
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cli.py",
                            "tests/test_data.py"], cwd=root, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout[-3000:]


@pytest.mark.parametrize("slug", ["torch", "lightning", "wandb", "test", "1project", "my-project", "class", "os"])
def test_invalid_slug_is_refused(cookies, slug):
    result = cookies.bake(extra_context={"project_slug": slug})
    assert result.exit_code != 0
    assert result.project_path is None or not Path(result.project_path).exists()


def test_test_requirements_cover_the_generated_dependencies(cookies):
    root = Path(cookies.bake().project_path)
    needed = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    listed = (TEMPLATE / "requirements-test.txt").read_text().split()
    assert set(needed) <= set(listed)


def test_readme_commands_match_ci():
    readme = (TEMPLATE / "README.md").read_text()
    blocks = re.findall(r"<!-- (\w[\w-]*) -->\n```bash\n(.*?)\n```\n<!-- /\1 -->", readme, re.S)
    assert [name for name, _ in blocks] == ["train-command", "test-command"]
    assert all("\n" not in cmd for _, cmd in blocks), "each README command is one line"
    assert "bash .ci/run" not in blocks[1][1]
