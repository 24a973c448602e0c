"""Checks and wording shared by the CLI verbs (standard library only: start-up stays fast).

* argparse types that refuse out-of-range numbers at parse time (exit status 2, one ``error:`` line);
* :func:`check_outputs`: every output of a run is checked before any work or any write: never an
  input, never another output of the same run, an existing file only with ``--overwrite``, and
  its folder must be writable;
* :func:`cli_message`: library errors name Python keyword arguments (``overwrite=True``); the CLI
  says its own flags instead.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import ConfigError

__all__ = ["positive_int", "nonnegative_int", "seed_int", "nonnegative_float", "check_feather", "check_outputs", "cli_message", "os_error_message"]

#: The feather band may be at most this share of the image's shorter side.
MAX_FEATHER_SHARE = 0.25


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (argparse type)."""
    return _int_at_least(text, 0)


#: Seeds are passed to torch and numpy generators, which take non-negative 63-bit integers.
MAX_SEED = 2**63 - 2**32


def seed_int(text: str) -> int:
    """A seed: a whole number in [0, MAX_SEED] (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number in [0, {MAX_SEED}], got {value}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def check_feather(feather: float, hw: Sequence[int], flag: str = "--feather") -> None:
    """Refuse a feather band so wide that the edit would rewrite (nearly) the whole image.

    A whole-image region is refused; a whole-image feather band is the same mistake. The band may
    be at most :data:`MAX_FEATHER_SHARE` of the image's shorter side.
    """
    from ..errors import RegionError

    limit = MAX_FEATHER_SHARE * min(int(hw[0]), int(hw[1]))
    if feather > limit:
        raise RegionError(
            f"{flag} {feather:g} px is wider than a quarter of the image's shorter side "
            f"({int(hw[0])}x{int(hw[1])} px): the edit would rewrite most of the image; use at most {limit:g}"
        )


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_folder(what: str, folder: Path) -> None:
    """``folder`` exists (or can be created) and is writable."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{what}: cannot create folder {folder}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what}: cannot write into {existing} (read-only or permission denied)")


def check_outputs(
    outputs: Sequence[tuple[str, str | os.PathLike]],
    inputs: Iterable[str | os.PathLike | None],
    overwrite: bool,
) -> None:
    """Refuse a run whose outputs would clobber an input, each other, or an existing file.

    Args:
        outputs: ``(what, path)`` pairs, ``what`` naming the output in messages (e.g. ``"--out"``).
        inputs: files the run reads (``None`` entries are ignored); never written.
        overwrite: whether existing outputs may be replaced (``--overwrite``).

    Raises:
        ConfigError: an output is an input, two outputs are the same file, an output exists
            without ``overwrite`` or is a folder, or its folder is not writable.
    """
    ins = [Path(p) for p in inputs if p is not None]
    seen: list[tuple[str, Path]] = []
    for what, raw in outputs:
        path = Path(raw)
        for src in ins:
            if _same_file(path, src):
                raise ConfigError(f"{what} {path} is the input file {src}; refusing to overwrite an input")
        for other_what, other in seen:
            if _same_file(path, other):
                raise ConfigError(
                    f"{what} {path} is also {other_what} of this run; give each output its own path"
                )
        seen.append((what, path))
        if path.is_dir():
            raise ConfigError(f"{what} {path} is a folder; expected a file name")
        if path.exists() and not overwrite:
            raise ConfigError(f"{what} {path} exists; pass --overwrite to replace it")
        _check_folder(what, path.parent)


# Library wording (Python keyword arguments) -> the CLI's flags; applied to every error message.
_CLI_WORDING: tuple[tuple[str, str], ...] = (
    (r"pass overwrite=True", "pass --overwrite"),
    (r"overwrite=True", "--overwrite"),
    (r"; pass clip_to_image=True to clip it", "; keep it within the image"),
    (r"if they are fractions of the image size pass units='fraction' \(or units='auto'\)",
     "if they are fractions of the image size pass --units fraction"),
    (r"units='fraction'", "--units fraction"),
    (r", more than max_fraction=(\d+%): an edit needs surrounding context \(raise max_fraction to allow it\)",
     r", more than the limit of \1: an edit needs surrounding context"),
    (r" \(pass allow_non_radiograph=True to convert it to grey\)", ""),
    (r" or output_format$", ""),
    (r"raise the limit with max_size=N", "raise the limit with --max-pixels N"),
    (r"^feather must be", "--feather must be"),
    (r"^num_boxes must be", "--num-boxes must be"),
)


def cli_message(message: str) -> str:
    """A library error message in the CLI's own terms, on one line."""
    for pattern, repl in _CLI_WORDING:
        message = re.sub(pattern, repl, message)
    return " ".join(message.split())


def os_error_message(exc: OSError) -> str:
    """``OSError`` -> one line: what failed, on which file."""
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{where}: {reason}" if where else reason
