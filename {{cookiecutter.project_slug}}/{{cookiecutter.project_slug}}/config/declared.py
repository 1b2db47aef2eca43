"""What the registries declare, read from their source files without importing them (they import
torch; the command line must answer `--help` and bad input in well under a second without it).

Two forms: a decorator with a string literal first on a module-level function (`@register_model("mlp",
width=256)`: the name, the function's keyword parameters, the decorator's constant keywords), and the
string keys of a module-level dict literal (`ACTIVATIONS = {"relu": ...}`). A registry's module, once
imported, is the truth. Hand-written: no library reads declarations without executing them;
tests/training/test_registries.py holds each reading against the imported registry."""

import ast
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Declared:
    """A registered function as declared: its keyword parameters (None: it takes **kwargs, so all)."""

    name: str
    function: str
    keywords: tuple[str, ...] | None
    defaults: dict = field(default_factory=dict)  # the decorator's keyword values, e.g. width=32


@cache
def _tree(relative: str) -> ast.Module:
    path = PACKAGE / relative
    return ast.parse(path.read_text(), str(path))


def decorated(relative: str, decorator: str) -> dict[str, Declared]:
    """name → Declared for every `@decorator("name", ...)` function in the package file `relative`."""
    found = {}
    for node in _tree(relative).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        args = node.args
        keywords = None if args.kwarg else tuple(a.arg for a in args.args[1:] + args.kwonlyargs)
        for deco in node.decorator_list:
            ours = isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == decorator and deco.args
            if ours and isinstance(deco.args[0], ast.Constant):
                defaults = {k.arg: k.value.value for k in deco.keywords if isinstance(k.value, ast.Constant)}
                found[deco.args[0].value] = Declared(deco.args[0].value, node.name, keywords, defaults)
    return found


def dict_keys(relative: str, name: str) -> tuple[str, ...]:
    """The string keys of the module-level dict literal `name` in the package file `relative`, then
    those added below it by `name["key"] = ...` (an entry of your own appended to the file)."""
    keys: list[str] = []
    found = False
    for node in _tree(relative).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        target = node.target if isinstance(node, ast.AnnAssign) else target
        if getattr(target, "id", None) == name and isinstance(node.value, ast.Dict):
            keys += [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
            found = True
        elif isinstance(target, ast.Subscript) and getattr(target.value, "id", None) == name:
            keys += [target.slice.value] if isinstance(target.slice, ast.Constant) else []
    if not found:
        raise LookupError(f"{relative} declares no dict {name}")
    return tuple(dict.fromkeys(keys))


def imported(module: str) -> object | None:
    """The package module `module` (e.g. "networks") if something already imported it, else None."""
    return sys.modules.get(f"{PACKAGE.name}.{module}")
