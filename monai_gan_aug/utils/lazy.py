"""Lazy package exports (PEP 562): a package lists its public names, modules load on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose ``exports`` map names to submodules.

    Importing one submodule then does not import its siblings (and their dependencies), while
    ``from package import Name`` still works.

    Args:
        package: the package's ``__name__``.
        exports: public name -> submodule (relative to ``package``) that defines it.
        namespace: the package's ``globals()``; resolved names are cached there.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        submodule = exports[name]
        module = importlib.import_module(f"{package}.{submodule}")
        # Importing binds the submodule as a package attribute; where a public name equals its
        # submodule's name (losses.gradient_penalty), the public object must win.
        if exports.get(submodule) == submodule:
            namespace[submodule] = getattr(module, submodule)
        value = getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
