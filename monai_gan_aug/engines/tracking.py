"""Experiment tracking of the GAN trainers with MONAI's ``MLFlowHandler``.

The trainers' ``engine.state.output`` is a dict of floats (no ``loss`` key, not a decollated list),
so :func:`loss_output_transform` hands the whole dict to ``StatsHandler``/``MLFlowHandler``.
:class:`GanMLFlowHandler` sets the defaults this project wants: a local SQLite store under the run's
folder unless ``MLFLOW_TRACKING_URI`` is set, the configuration as parameters (flattened, logged in
batches of at most 100 as MLflow requires), logging on rank 0 only, and the run closed at the end.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine
from monai.handlers import MLFlowHandler
from monai.utils import path_to_sqlite_uri

from .runtime import is_rank0

__all__ = ["GanMLFlowHandler", "default_tracking_uri", "flatten_params", "loss_output_transform"]

_MLFLOW_MAX_PARAMS_PER_BATCH = 100
_MAX_PARAM_CHARS = 500


def default_tracking_uri(root: str | os.PathLike) -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlruns.db`` (artifacts in ``<root>/mlruns``)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return path_to_sqlite_uri(str(root / "mlruns.db"))


def loss_output_transform(output: Any) -> dict[str, float]:
    """Every scalar of a trainer output as ``{name: float}`` (first item of a decollated list)."""
    if isinstance(output, (list, tuple)):
        output = output[0] if output else {}
    if not isinstance(output, Mapping):
        return {}
    out = {}
    for k, v in output.items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            out[str(k)] = float(v.detach())
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[str(k)] = float(v)
    return out


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a nested config into ``{"a.b.c": str(value)}`` for MLflow parameters (long values cut)."""
    flat: dict[str, str] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            flat.update(flatten_params(v, prefix=f"{key}."))
        else:
            text = str(v)
            flat[key] = text if len(text) <= _MAX_PARAM_CHARS else text[: _MAX_PARAM_CHARS - 3] + "..."
    return flat


class GanMLFlowHandler(MLFlowHandler):
    """MONAI ``MLFlowHandler`` set up for the GAN trainers.

    Args:
        root: folder of the default SQLite tracking store (``<root>/mlruns.db``) and its artifacts.
        params: configuration to record as run parameters (nested dicts are flattened).
        artifacts: files or folders logged when training completes (sample grids, final checkpoint).
        tracking_uri: explicit URI; default :func:`default_tracking_uri` of ``root``.
        experiment_name, run_name: MLflow experiment and run names.
        kwargs: other ``MLFlowHandler`` arguments (``iteration_log``, ``epoch_log``...).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        params: Mapping[str, Any] | None = None,
        artifacts: str | Sequence[str] | None = None,
        tracking_uri: str | None = None,
        experiment_name: str = "monai_gan_aug",
        run_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("output_transform", loss_output_transform)
        kwargs.setdefault("close_on_complete", True)
        self.enabled = is_rank0()
        self.run_id: str | None = None  # MLflow id of the run, set when training starts
        uri = tracking_uri or default_tracking_uri(root)
        super().__init__(
            tracking_uri=uri,
            experiment_name=experiment_name,
            run_name=run_name,
            experiment_param=flatten_params(params) if params else None,
            artifacts=[str(a) for a in ([artifacts] if isinstance(artifacts, (str, os.PathLike)) else artifacts or [])]
            or None,
            **kwargs,
        )

    def attach(self, engine: Engine) -> None:
        """Attach on rank 0 only: other ranks would record duplicate runs."""
        if self.enabled:
            super().attach(engine)

    def _log_params(self, params: dict[str, Any]) -> None:
        # MLflow accepts at most 100 parameters per log_batch call; a whole config has more.
        items = list(params.items())
        for i in range(0, len(items), _MLFLOW_MAX_PARAMS_PER_BATCH):
            super()._log_params(dict(items[i : i + _MLFLOW_MAX_PARAMS_PER_BATCH]))

    def start(self, engine: Engine) -> None:
        super().start(engine)
        self.run_id = self.cur_run.info.run_id if self.cur_run is not None else None
