"""Refuse a project slug that is not a usable Python package name, before anything is written."""

import keyword
import re
import sys

# tojson renders a JSON string literal, which is also a valid Python string literal.
SLUG = {{ cookiecutter.project_slug | tojson }}

# Packages the generated project imports; a package of the same name would shadow them.
SHADOWED = {
    "lightning", "pytorch_lightning", "torch", "torchvision", "torchmetrics", "wandb",
    "sklearn", "yaml", "matplotlib", "numpy", "pytest", "ruff", "test", "tests", "train",
    "benchmarks", "scripts",
    # the project's other scripts, and the optional export packages
    "predict", "export", "onnx", "onnxruntime", "onnxscript",
}


def problem(slug: str) -> str | None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", slug):
        return "must be a lowercase Python identifier (letters, digits, underscores; not starting with a digit)"
    if keyword.iskeyword(slug):
        return "is a Python keyword"
    if slug in SHADOWED or slug in sys.stdlib_module_names:
        return "would shadow a module the project depends on"
    return None


if __name__ == "__main__":
    why = problem(SLUG)
    if why:
        print(f"error: project_slug {SLUG!r} {why}; choose another slug.", file=sys.stderr)
        sys.exit(1)
