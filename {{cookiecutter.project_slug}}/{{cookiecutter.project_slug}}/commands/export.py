"""export.py: a checkpoint's network as ONNX, a torch.export program or TorchScript, checked against
the checkpoint after writing. Inputs: images [B, C, H, W] in [0, 1] (normalization inside); outputs:
one tensor of logits per task (a regression task: its value in the target's own units)."""

import argparse
import importlib.util
import json
import sys
import warnings
from pathlib import Path

from ..config.parser import OneLineParser
from ..config.types import Range, number_type
from ..errors import UsageError, guarded, refuse
from ..files import TargetError, atomic_path, check_apart, check_target, remove_stale_temporaries, write_atomically

# format → (file suffix, Python modules it needs beyond torch)
FORMATS = {
    "onnx": (".onnx", ("onnx", "onnxruntime", "onnxscript")),
    "torch-export": (".pt2", ()),
    "torchscript": (".torchscript.pt", ()),
}
# Largest difference of any output from the checkpoint's: absolute, relative to the output beyond 1
# (a regression value in its own units, e.g. 200 ± 2e-4 in float32, is as exact as a logit of 1 ± 1e-6).
TOLERANCE = 1e-4


def build_parser() -> OneLineParser:
    p = OneLineParser(
        prog="export.py",
        description="Export a checkpoint's network (inputs: images [B, C, H, W] in [0, 1], any batch size; "
        "outputs: logits per task; a regression task's value in its units) beside the checkpoint, with "
        "<file>.json of class names, input shape and tasks; then run the exported file and the checkpoint "
        "on one batch and compare.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("checkpoint", help="A .ckpt file, a run directory (its best.ckpt, else last.ckpt) or 'last'.")
    p.add_argument(
        "--format",
        default="onnx",
        choices=tuple(FORMATS),
        help="onnx needs the export extra "
        "(pip install -e '.[export]'), checked with onnxruntime; torch-export: torch.export.save, "
        "checked with torch.export.load; torchscript: torch.jit.trace, checked with torch.jit.load "
        "(deprecated by PyTorch, kept for runtimes that still load it).",
    )
    p.add_argument(
        "--output",
        metavar="FILE",
        help="Default: beside the checkpoint, its name with the format's "
        "suffix (best.onnx, best.pt2, best.torchscript.pt).",
    )
    p.add_argument("--overwrite", action="store_true", help="Replace --output if it exists.")
    check = number_type(int, Range(1, 4096))  # a batch past this: more memory than the check needs
    p.add_argument("--check-batch", type=check, default=16, help="Images (uniform in [0, 1]) in the check, 1-4096.")
    p.add_argument("--output-dir", default="runs", metavar="PATH", help="Where 'last' looks for runs.")
    return p


def missing_modules(fmt: str) -> list[str]:
    return [m for m in FORMATS[fmt][1] if importlib.util.find_spec(m) is None]


def output_path(a: argparse.Namespace, ckpt: Path) -> Path:
    suffix = FORMATS[a.format][0]
    return Path(a.output) if a.output else ckpt.with_name(ckpt.stem + suffix)


def exportable(net, hp: dict):
    """The network with a tuple of outputs (exporters take tuples, not lists), in eval mode, each in its
    task's units (TaskKind.units: logits, or a regression value z·σ + μ with the training split's σ
    and μ from the checkpoint's hyperparameters)."""
    import torch

    from ..data.tasks import kinds_of

    n = len(hp["task_names"])
    units = list(zip(kinds_of(hp), hp.get("target_mean") or [0.0] * n, hp.get("target_std") or [1.0] * n))

    class Exportable(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            # per task: [B, C] logits, [B, 1] for a binary head, or a regression value
            return tuple(kind.units(o, mean, std) for o, (kind, mean, std) in zip(self.net(x), units))

    return Exportable(net).eval()


def export(fmt: str, wrapper, example, path: Path, task_names: list[str]) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1)
    if fmt == "onnx":
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            dynamo=True,
            external_data=False,
            verbose=False,
            input_names=["images"],
            output_names=list(task_names),
            dynamic_shapes={"x": {0: batch}},
        )
    elif fmt == "torch-export":
        program = torch.export.export(wrapper, (example,), dynamic_shapes={"x": {0: batch}})
        torch.export.save(program, str(path))
    else:
        # Tracing records shape arithmetic (x.shape[0]) as operations, so any batch size runs; its
        # warnings that a traced value "might not generalize" are answered by the check on another batch size.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            traced = torch.jit.trace(wrapper, (example,), check_trace=False)
        torch.jit.save(traced, str(path))


def run_exported(fmt: str, path: Path, x) -> list:
    """The exported file's outputs for images x [B, C, H, W], as float tensors."""
    import torch

    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return [torch.from_numpy(o) for o in session.run(None, {session.get_inputs()[0].name: x.numpy()})]
    if fmt == "torch-export":
        return list(torch.export.load(str(path)).module()(x))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")  # deprecated, still works
        return list(torch.jit.load(str(path))(x))


def metadata(hp: dict, fmt: str, path: Path, ckpt: Path, names: list[list[str]], diff: float) -> dict:
    from ..data.tasks import kinds_of

    tasks = []
    for name, labels, kind in zip(hp["task_names"], names, kinds_of(hp)):
        task = {"name": name, "kind": kind.name, "output": "[B, 1] the predicted value, in the target's units"}
        if not kind.numeric:
            logits = f"[B, 1] logit: sigmoid = P({labels[1]})" if len(labels) == 2 else f"[B, {len(labels)}] logits"
            task |= {"classes": labels, "output": logits}
        tasks.append(task)
    return {
        "format": fmt,
        "file": path.name,
        "checkpoint": str(ckpt),
        "input": "images [B, C, H, W] in [0, 1]",
        "input_shape": list(hp["input_shape"]),
        "dataset": hp.get("dataset"),
        "model": hp.get("model"),
        "tasks": tasks,
        "max_abs_difference": diff,
    }


@guarded("export.py")
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.check_batch < 1:
        parser.error(f"argument --check-batch: must be >= 1, got {a.check_batch}")
    missing = missing_modules(a.format)
    if missing:
        parser.error(
            f"argument --format: {a.format} needs the export extra (missing {', '.join(missing)}): "
            "pip install -e '.[export]'"
        )
    from ..checkpoints import find_checkpoint, read_hparams
    from ..inference.inputs import check_units

    try:
        ckpt = find_checkpoint(a.checkpoint, a.output_dir)
        hp = read_hparams(ckpt)
        check_units(hp, ckpt)
    except UsageError as e:
        parser.error(str(e))
    out = output_path(a, ckpt)
    info = out.with_name(out.name + ".json")
    try:  # before the network is built: the file, its .json, and never the checkpoint itself
        for path in (out, info):
            check_target(path, a.overwrite)
            check_apart(path, [ckpt])
    except TargetError as e:
        parser.error(f"argument --output: {e}")
    remove_stale_temporaries(out.resolve().parent)  # of an export.py killed while writing
    try:
        return write_export(a, ckpt, hp, out, info)
    except Mismatch:
        return 1
    except UsageError as e:
        return refuse("export.py", e)


class Mismatch(Exception):
    """The exported file does not reproduce the checkpoint (reported, exit status 1, nothing written)."""


def write_export(a: argparse.Namespace, ckpt: Path, hp: dict, out: Path, info: Path) -> int:
    import torch

    from ..checkpoints import class_names_of
    from ..training.module import load_module

    model = load_module(ckpt)
    wrapper = exportable(model.net, hp)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(a.check_batch, *hp["input_shape"], generator=gen)
    # Export with a batch of another size than the check's: the check also proves the batch is dynamic.
    example = torch.rand(max(2, a.check_batch // 2 + 1), *hp["input_shape"], generator=gen)
    with atomic_path(out, keep_suffix=True) as tmp:
        # PyTorch 2.10+ deprecates TorchScript (a FutureWarning per call); the format stays for runtimes
        # that still load it (LibTorch, older serving stacks).
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
            export(a.format, wrapper, example, tmp, hp["task_names"])
            expected = wrapper(x)
            got = run_exported(a.format, tmp, x)
        diff = max(
            ((e.float() - g.float()).abs() / e.float().abs().clamp_min(1)).max().item() for e, g in zip(expected, got)
        )
        shapes_ok = [tuple(g.shape) for g in got] == [tuple(e.shape) for e in expected]
        print(
            f"max abs difference (relative beyond 1) of the {a.format} outputs from the checkpoint's over "
            f"{a.check_batch} images: "
            f"{diff:.3g} (limit {TOLERANCE:g})"
        )
        if not shapes_ok or not diff <= TOLERANCE:
            print(
                f"export.py: error: the exported {a.format} model does not reproduce the checkpoint "
                f"({'output shapes differ' if not shapes_ok else f'difference {diff:.3g} > {TOLERANCE:g}'}); "
                "nothing written",
                file=sys.stderr,
            )
            raise Mismatch
    meta = metadata(hp, a.format, out, ckpt, class_names_of(hp), diff)
    write_atomically(info, json.dumps(meta, indent=2) + "\n")
    print(f"exported {ckpt} → {out} (and {info.name})")
    return 0
