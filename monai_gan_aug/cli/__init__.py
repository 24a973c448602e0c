"""``monai-gan-aug``: the command-line tool.

Start-up stays fast: only the standard library is imported here and in the verb modules' top
level; each verb imports torch/MONAI when it runs. User mistakes (bad image, bad region, missing
weights, an unwritable output folder) print one ``error:`` line in the CLI's own terms (flags,
not Python keyword arguments; :mod:`._checks`) and exit with status 2, never a traceback.

Each verb lives in its own module of this package with an ``add_parser(subparsers)`` function
that registers it (and sets ``func``); add new verbs to :data:`VERB_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser", "skip_unused_imports", "LEAN_IMPORTS", "VERB_MODULES"]

#: Verb modules, in the order ``--help`` lists them.
VERB_MODULES = ("edit", "evaluate", "prepare", "sample", "synthesize", "utility")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every verb registered."""
    parser = argparse.ArgumentParser(prog="monai-gan-aug", description="GAN augmentation for chest X-rays and CT.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="verb")
    for name in VERB_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


#: Optional dependencies that importing MONAI pulls in eagerly (``monai/__init__`` imports every
#: submodule) but that a verb never uses: the command skips them, which saves about half of MONAI's
#: import time (measured in docs/cli_reliability.md). MONAI treats each as "not installed".
LEAN_IMPORTS = {"edit": ("mlflow", "ignite", "scipy.signal", "itk", "SimpleITK", "requests")}


def skip_unused_imports(verb: str) -> list[str]:
    """Make the heavy optional modules :data:`LEAN_IMPORTS` lists for ``verb`` unimportable in this process.

    Only modules not imported yet are skipped; ``MONAI_GAN_AUG_FULL_IMPORTS=1`` turns this off.
    Returns the names skipped. Meant for a process that runs one verb (the console command).
    """
    if os.environ.get("MONAI_GAN_AUG_FULL_IMPORTS"):
        return []
    skipped = [name for name in LEAN_IMPORTS.get(verb, ()) if name not in sys.modules]
    for name in skipped:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    return skipped


def main(argv: Sequence[str] | None = None, lean: bool | None = None) -> int:
    """Entry point of the ``monai-gan-aug`` command.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).
        lean: skip imports the verb never uses (:func:`skip_unused_imports`); default: only when
            run as the command (``argv`` not given), since it affects the whole process.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if (argv is None if lean is None else lean) and args.verb is not None:
        skip_unused_imports(args.verb)
    if args.version:
        from .. import __version__

        print(__version__)
        return 0
    if args.verb is None:
        parser.print_help()
        return 2
    from ..errors import MonaiGanAugError
    from ._checks import cli_message, os_error_message

    try:
        return int(args.func(args))
    except MonaiGanAugError as exc:
        message = cli_message(str(exc))
    except OSError as exc:  # an unwritable or full output folder, a vanished input...
        if os.environ.get("MONAI_GAN_AUG_TRACEBACK"):
            raise
        message = os_error_message(exc)
    print(f"monai-gan-aug {args.verb}: error: {message}", file=sys.stderr)
    return 2
