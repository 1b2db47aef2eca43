"""What the registries declare (`@register_model("mlp", width=256)` functions, dict literals' keys), read from source
without importing torch, so `--help` and bad input answer in well under a second; once imported, a registry is the
truth. Hand-written: no library reads declarations without running them (tests/training/test_registries.py checks)."""

import ast
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
    return ast.parse((PACKAGE / relative).read_text(), str(PACKAGE / relative))


def decorated(relative: str, decorator: str) -> dict[str, Declared]:
    """name → Declared for every `@decorator("name", ...)` function in the package file `relative`."""
    found = {}
    for node in (n for n in _tree(relative).body if isinstance(n, ast.FunctionDef)):
        keywords = None if node.args.kwarg else tuple(a.arg for a in node.args.args[1:] + node.args.kwonlyargs)
        for deco in node.decorator_list:
            ours = isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == decorator and deco.args
            if ours and isinstance(deco.args[0], ast.Constant):
                defaults = {k.arg: k.value.value for k in deco.keywords if isinstance(k.value, ast.Constant)}
                found[deco.args[0].value] = Declared(deco.args[0].value, node.name, keywords, defaults)
    return found


def dict_keys(relative: str, name: str) -> tuple[str, ...]:
    """The string keys of the module-level dict literal `name` in `relative`, then those `name["key"] = ...` adds."""
    keys, found = [], False
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
