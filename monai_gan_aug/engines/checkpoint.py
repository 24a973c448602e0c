"""Full-state checkpoints of the GAN trainers with MONAI's ``CheckpointSaver``/``CheckpointLoader``.

* :class:`AtomicCheckpointSaver`: MONAI 1.6.1's ``CheckpointSaver`` builds Ignite ``DiskSaver`` objects
  with ``atomic=False`` (its comment: so that files get group/other read permission), so a run
  killed while writing leaves a truncated checkpoint. This subclass swaps in atomic savers (temp file
  + rename) and sets the usual ``0o644`` permission afterwards.
* :class:`ResumeCheckpointLoader`: MONAI 1.6.1's ``CheckpointLoader`` already loads with
  ``weights_only=True`` (checked in ``monai/handlers/checkpoint_loader.py``); this subclass adds
  resuming from a *folder* (it picks the newest checkpoint, or starts fresh when there is none)
  and turns unreadable or untrusted files into :class:`~monai_gan_aug.errors.CheckpointError`.

Everything the trainers put in a checkpoint (:meth:`MultiNetworkGanTrainer.checkpoint_objects`) has
a ``state_dict`` made of tensors and plain values, so ``weights_only=True`` loads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ignite.engine import Engine
from ignite.handlers import DiskSaver
from monai.handlers import CheckpointLoader, CheckpointSaver

from ..errors import CheckpointError

__all__ = ["AtomicCheckpointSaver", "ResumeCheckpointLoader", "latest_checkpoint"]


class _AtomicDiskSaver(DiskSaver):
    """Ignite ``DiskSaver`` with atomic writes, an optional fixed file name and ``0o644`` files."""

    def __init__(self, dirname: str, filename: str | None = None) -> None:
        super().__init__(dirname=dirname, atomic=True, create_dir=True, require_empty=False)
        self.filename = filename

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        filename = self.filename or filename
        super().__call__(checkpoint, filename, metadata)
        path = self.dirname / filename
        if path.exists():  # only on the saving rank
            os.chmod(path, 0o644)  # NamedTemporaryFile creates 0o600 files

    def remove(self, filename: str) -> None:
        super().remove(self.filename or filename)


class AtomicCheckpointSaver(CheckpointSaver):
    """MONAI ``CheckpointSaver`` whose files are written atomically (temp file, then rename).

    Same arguments as :class:`monai.handlers.CheckpointSaver`. Saving happens on rank 0 only (Ignite's
    ``DiskSaver`` default), so the handler can be attached on every rank.
    """

    def __init__(self, save_dir: str, save_dict: dict, **kwargs: Any) -> None:
        super().__init__(save_dir=str(save_dir), save_dict=save_dict, **kwargs)
        final_name, key_name = kwargs.get("final_filename"), kwargs.get("key_metric_filename")
        for ckpt, fixed in (
            (self._final_checkpoint, final_name),
            (self._key_metric_checkpoint, key_name),
            (self._interval_checkpoint, None),
        ):
            if ckpt is not None:
                ckpt.save_handler = _AtomicDiskSaver(str(save_dir), filename=fixed)


_NUMBER = re.compile(r"=(\d+)\.pt$")


def latest_checkpoint(folder: str | os.PathLike, pattern: str = "*.pt") -> Path | None:
    """Newest checkpoint in ``folder`` by modification time (ties: the higher ``...=<N>.pt`` number).

    Returns ``None`` when the folder is missing or holds no match.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    files = [p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".")]
    if not files:
        return None

    def step(p: Path) -> int:
        m = _NUMBER.search(p.name)
        return int(m.group(1)) if m else -1

    # newest file first; the iteration number breaks ties of coarse file-system timestamps
    return max(files, key=lambda p: (p.stat().st_mtime_ns, step(p)))


class ResumeCheckpointLoader(CheckpointLoader):
    """MONAI ``CheckpointLoader`` (``weights_only=True``) that can resume from a folder.

    Args:
        load_path: a checkpoint file, or a folder whose newest ``*.pt`` is loaded.
        load_dict: objects to restore (e.g. ``trainer.checkpoint_objects()``).
        missing_ok: when ``load_path`` is a folder with no checkpoint (or a missing path), start
            from scratch instead of raising.
        kwargs: ``name``, ``map_location``, ``strict``, ``strict_shape`` of ``CheckpointLoader``.

    Raises:
        CheckpointError: the file cannot be loaded safely or does not fit ``load_dict``.
    """

    def __init__(self, load_path: str | os.PathLike, load_dict: dict, missing_ok: bool = True, **kwargs: Any) -> None:
        super().__init__(load_path=str(load_path), load_dict=load_dict, **kwargs)
        self.missing_ok = bool(missing_ok)
        self.loaded_path: Path | None = None

    def _resolve(self) -> Path | None:
        path = Path(self.load_path)
        found = latest_checkpoint(path) if path.is_dir() else (path if path.is_file() else None)
        if found is None and not self.missing_ok:
            raise CheckpointError(f"no checkpoint to resume from at {path}")
        return found

    def __call__(self, engine: Engine) -> None:
        path = self._resolve()
        if path is None:
            self.logger.info(f"no checkpoint under {self.load_path}: starting from scratch")
            return
        original, self.load_path = self.load_path, str(path)
        try:
            super().__call__(engine)
        except (KeyError, RuntimeError, EOFError, ValueError, OSError) as exc:
            raise CheckpointError(
                f"cannot resume from {path} (weights_only=True): {type(exc).__name__}: {exc}"
            ) from exc
        except Exception as exc:  # pickle.UnpicklingError for untrusted objects, zipfile errors when truncated
            raise CheckpointError(f"cannot load {path} safely: {type(exc).__name__}: {exc}") from exc
        finally:
            self.load_path = original
        self.loaded_path = path
