"""The flags' value types: each parses a string (typed, or a YAML value) or raises ArgumentTypeError saying why."""

import functools
import math
from argparse import ArgumentTypeError
from collections.abc import Callable
from typing import Any, NamedTuple


class Range(NamedTuple):
    """Allowed interval of a number; `lo_open`/`hi_open` exclude the end points."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, v: float) -> bool:
        above_lo = self.lo is None or (v > self.lo if self.lo_open else v >= self.lo)
        return above_lo and (self.hi is None or (v < self.hi if self.hi_open else v <= self.hi))

    def __str__(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


POSITIVE = Range(0, lo_open=True)
NON_NEGATIVE = Range(0)
PROBABILITY = Range(0, 1, hi_open=True)  # a drop probability p < 1
UNIT = Range(0, 1, lo_open=True, hi_open=True)


def _number(kind: type, text: str, allowed: Range | None = None) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if not math.isfinite(value) or (kind is int and abs(value) >= 2**63):  # past int64: no tensor, seed or count
        raise ArgumentTypeError(f"expected a finite number{' below 2^63' * (kind is int)}, got {text[:40]!r}")
    if allowed is not None and not allowed.contains(value):
        raise ArgumentTypeError(f"must be {allowed}, got {text!r}")
    return value


def number_type(kind: type, allowed: Range | None) -> Callable[[str], Any]:
    parse = functools.partial(_number, kind, allowed=allowed)
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


BOOLS = dict.fromkeys(("true", "1", "yes", "y", "on"), True) | dict.fromkeys(("false", "0", "no", "n", "off"), False)


def parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    if (value := BOOLS.get(str(text).strip().lower())) is None:
        raise ArgumentTypeError(f"expected true/false/1/0/yes/no, got {text!r}")
    return value


def _words_or(parse: Callable[[str], Any], words: dict, hint: str = "") -> Callable[[str], Any]:
    def parse_words(text: str) -> Any:
        if (word := str(text).strip().lower()) in words:
            return words[word]
        try:
            return parse(text)
        except ArgumentTypeError as e:
            raise ArgumentTypeError(f"{e}{hint}") from None

    parse_words.__name__ = parse.__name__
    return parse_words


def auto_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`auto`, or a value of `parse` (e.g. --width auto: the registered network's own default)."""
    return _words_or(parse, {"auto": "auto"}, " (or auto)")


def list_type(item: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        if not str(text).strip():
            return []
        parts = [p.strip() for p in str(text).split(",")]
        if not all(parts):
            raise ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        return [item(p) for p in parts]

    parse.__name__ = "list"
    return parse


def optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Accept `none`/`null` (and an empty string) as None, e.g. `--lr-tau none`."""
    return _words_or(parse, dict.fromkeys(("", "none", "null")))


def devices_type(text: str) -> str | int | list[int]:
    """Lightning's `devices`: auto, a count (-1 = all), or a comma list of device indices."""
    if text == "auto":
        return text
    if "," in text:
        return list_type(number_type(int, NON_NEGATIVE))(text)
    value = _number(int, text)
    if value == 0 or value < -1:
        raise ArgumentTypeError(f"must be auto, -1, a count >= 1 or a list, got {text!r}")
    return value


def batches_type(text: str) -> int | float:
    """Lightning's limit_*_batches: a fraction in (0, 1] or a number of batches >= 1."""
    value = _number(float, text)
    if value <= 0 or (value > 1 and not value.is_integer()):
        raise ArgumentTypeError(f"must be a fraction in (0, 1] or a count >= 1, got {text!r}")
    return int(value) if value > 1 else value


def run_name_type(text: str) -> str:
    """A run directory name: one path component, so a run never writes outside --output-dir."""
    if not text or len(text) > 200 or any(c in text for c in ("/", "\\", "..", "\0")):
        raise ArgumentTypeError(f"must be a plain name of 1-200 characters (no '/', '\\' or '..'), got {text[:60]!r}")
    return text


def wandb_project_type(text: str) -> str:
    if not text.strip() or set(text) & set("/\\#?%:") or len(text) > 128:
        raise ArgumentTypeError(f"a W&B project name has 1-128 characters and none of / \\ # ? % :, got {text!r}")
    return text


def wandb_tag_type(text: str) -> str:
    if len(text) > 64:
        raise ArgumentTypeError(f"a W&B tag has at most 64 characters, got {len(text)}: {text[:20]!r}…")
    return text


{%- if cookiecutter.streaming %}


SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def bytes_type(lo: int, hi: int) -> Callable[[str], int]:
    """A size in bytes, `64MB`, `512KiB` or `1000000`, within [lo, hi]."""

    def parse(text: str) -> int:
        s = str(text).strip().upper().replace(" ", "")
        digits = s.rstrip("KMGIB")
        unit = s[len(digits) :]
        try:
            if unit not in SIZE_UNITS:
                raise ValueError
            value = float(digits) * SIZE_UNITS[unit]
        except ValueError:
            raise ArgumentTypeError(f"expected a size such as 64MB or 1000000 (bytes), got {text!r}") from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ArgumentTypeError(f"must be a size in [{lo} B, {hi // 1000**3} GB], got {text!r}")
        return int(value)

    parse.__name__ = "size"
    return parse
{%- endif %}
