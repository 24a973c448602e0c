"""Experiment tracking of the GAN trainers with MONAI's ``MLFlowHandler``.

The trainers' ``engine.state.output`` is a dict of floats (no ``loss`` key, not a decollated list),
so :func:`loss_output_transform` hands the whole dict to ``StatsHandler``/``MLFlowHandler``.
:class:`GanMLFlowHandler` sets the defaults this project wants: a local SQLite store under the run's
folder unless ``MLFLOW_TRACKING_URI`` is set, the curated resolved parameters and the whole executed
config as parameters (flattened, logged in batches of at most 100 as MLflow requires), the executed
config as a JSON artifact, every iteration's losses written in batches (one ``log_batch`` per
``flush_every`` iterations instead of one per iteration), logging on rank 0 only, and the run closed
at the end.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ignite.engine import Engine, Events
from monai.handlers import MLFlowHandler
from monai.utils import flatten_dict, path_to_sqlite_uri

from ..errors import ConfigError
from .runtime import is_rank0

if TYPE_CHECKING:  # mlflow is imported by MONAI's handler on first use, not at import time
    from mlflow.entities import Metric

__all__ = [
    "CONFIG_ARTIFACT",
    "GanMLFlowHandler",
    "default_tracking_uri",
    "flatten_params",
    "loss_output_transform",
]

logger = logging.getLogger(__name__)

_MLFLOW_MAX_PARAMS_PER_BATCH = 100
_MLFLOW_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAM_CHARS = 500
#: characters MLflow accepts in a parameter name; others (``#``, ``@``...) become ``_``
_UNSAFE_KEY_CHARS = re.compile(r"[^\w\-. /]")
#: artifact name of the executed config
CONFIG_ARTIFACT = "config_executed.json"


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
    """Flatten a nested config into ``{"a.b.c": str(value)}`` for MLflow parameters (long values cut).

    Lists that hold mappings (e.g. a bundle's ``handlers``) are flattened by index
    (``train.handlers.4.root``); lists of plain values stay one value (``betas: [0.5, 0.999]``).
    Characters MLflow refuses in a name are replaced by ``_``.
    """
    flat: dict[str, str] = {}
    for k, v in config.items():
        key = _UNSAFE_KEY_CHARS.sub("_", f"{prefix}{k}")
        if isinstance(v, Mapping):
            flat.update(flatten_params(v, prefix=f"{key}."))
        elif isinstance(v, (list, tuple)) and any(isinstance(i, Mapping) for i in v):
            flat.update(flatten_params({str(i): item for i, item in enumerate(v)}, prefix=f"{key}."))
        else:
            text = str(v)
            flat[key] = text if len(text) <= _MAX_PARAM_CHARS else text[: _MAX_PARAM_CHARS - 3] + "..."
    return flat


class GanMLFlowHandler(MLFlowHandler):
    """MONAI ``MLFlowHandler`` set up for the GAN trainers.

    Args:
        root: folder of the default SQLite tracking store (``<root>/mlruns.db``) and its artifacts.
        params: resolved values to record as run parameters (nested dicts are flattened), e.g. a
            bundle's curated ``mlflow_params`` block (evaluated: data sizes, versions...).
        config: the whole executed config (a bundle passes ``$bundle_utils.executed_config()``):
            logged flattened as parameters under ``config_prefix`` and as the JSON artifact
            :data:`CONFIG_ARTIFACT` when the run starts.
        config_prefix: name prefix of the ``config`` parameters.
        artifacts: files or folders logged when training completes (sample grids, final checkpoint).
        tracking_uri: explicit URI; default :func:`default_tracking_uri` of ``root``.
        experiment_name, run_name: MLflow experiment and run names.
        flush_every: iteration values (losses, learning rates) are buffered and written to MLflow in
            one ``log_batch`` every this many iterations and at the end of the run (one write per
            iteration cost 14-47 % of the CPU time of a tiny test run's loop, docs/tracking.md).
            Every iteration is still recorded, with its own step and time stamp; a killed run loses
            at most the last ``flush_every - 1`` iterations' values.
        kwargs: other ``MLFlowHandler`` arguments (``iteration_log``, ``epoch_log``...).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        params: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        config_prefix: str = "config.",
        artifacts: str | Sequence[str] | None = None,
        tracking_uri: str | None = None,
        experiment_name: str = "monai_gan_aug",
        run_name: str | None = None,
        flush_every: int = 50,
        **kwargs: Any,
    ) -> None:
        if int(flush_every) < 1:
            raise ConfigError(f"flush_every must be >= 1 iteration, got {flush_every}")
        self.flush_every = int(flush_every)
        self._pending: list[Metric] = []
        self._pending_iterations = 0
        kwargs.setdefault("output_transform", loss_output_transform)
        kwargs.setdefault("close_on_complete", True)
        self.enabled = is_rank0()
        self.run_id: str | None = None  # MLflow id of the run, set when training starts
        self.config = dict(config) if config else None
        if not self.enabled:
            # Other ranks never log (attach is a no-op). MONAI's __init__ would open a client, which
            # creates the SQLite store, racing rank 0 doing the same ("duplicate column" errors).
            self.cur_run, self.artifacts = None, ()
            return
        uri = tracking_uri or default_tracking_uri(root)
        experiment_param = {
            **(flatten_params(params) if params else {}),
            **(flatten_params(self.config, prefix=config_prefix) if self.config else {}),
        }
        super().__init__(
            tracking_uri=uri,
            experiment_name=experiment_name,
            run_name=run_name,
            experiment_param=experiment_param or None,
            artifacts=[str(a) for a in ([artifacts] if isinstance(artifacts, (str, os.PathLike)) else artifacts or [])]
            or None,
            **kwargs,
        )

    def attach(self, engine: Engine) -> None:
        """Attach on rank 0 only: other ranks would record duplicate runs."""
        if self.enabled:
            # registered first, so buffered values are written before MONAI's handler closes the run
            engine.add_event_handler(Events.COMPLETED, self.flush)
            super().attach(engine)

    def _default_iteration_log(self, engine: Engine) -> None:
        """Buffer this iteration's scalars (and ``engine.optimizer``'s parameters, as MONAI does)."""
        values = self.output_transform(engine.state.output)
        if values is None:
            return
        if not isinstance(values, Mapping):
            values = {self.tag_name: values.item() if isinstance(values, torch.Tensor) else values}
        values = dict(flatten_dict(values))
        optimizer = getattr(engine, "optimizer", None)
        if optimizer is not None:  # e.g. SupervisedTrainer; the GAN trainers put lr_<name> in their output
            for name in self.optimizer_param_names:
                groups = optimizer.param_groups
                values.update({f"{name}_group_{i}": float(g[name]) for i, g in enumerate(groups)})
        from mlflow.entities import Metric

        stamp, step = int(time.time() * 1000), engine.state.iteration
        self._pending.extend(Metric(k, float(v), stamp, step) for k, v in values.items())
        self._pending_iterations += 1
        if self._pending_iterations >= self.flush_every:
            self.flush()

    def flush(self, engine: Engine | None = None) -> None:
        """Write the buffered iteration values to the run (at most 1000 per ``log_batch``, MLflow's limit)."""
        pending, self._pending, self._pending_iterations = self._pending, [], 0
        if not pending or self.cur_run is None:
            return
        for i in range(0, len(pending), _MLFLOW_MAX_METRICS_PER_BATCH):
            chunk = pending[i : i + _MLFLOW_MAX_METRICS_PER_BATCH]
            self.client.log_batch(run_id=self.cur_run.info.run_id, metrics=chunk, params=[], tags=[])

    def close(self) -> None:
        """Write what is still buffered, then end the run as MONAI does."""
        self.flush()
        super().close()

    def _log_params(self, params: dict[str, Any]) -> None:
        # A resumed (killed, unfinished) run already has its parameters, and MLflow refuses to change
        # one: keep the first values and say which differ (the config artifact holds the latest).
        logged = self.client.get_run(self.cur_run.info.run_id).data.params if self.cur_run else {}
        changed = sorted(k for k, v in params.items() if k in logged and logged[k] != str(v))
        if changed:
            logger.warning("resumed MLflow run keeps the first values of changed parameters: %s", changed)
        params = {k: v for k, v in params.items() if k not in logged}
        # MLflow accepts at most 100 parameters per log_batch call; a whole config has more.
        items = list(params.items())
        for i in range(0, len(items), _MLFLOW_MAX_PARAMS_PER_BATCH):
            super()._log_params(dict(items[i : i + _MLFLOW_MAX_PARAMS_PER_BATCH]))

    def start(self, engine: Engine) -> None:
        """Open (or resume) the run, log the parameters, and store the executed config as an artifact."""
        super().start(engine)
        self.run_id = self.cur_run.info.run_id if self.cur_run is not None else None
        if self.config and self.run_id is not None:
            # logged at start, not with the other artifacts at the end, so a killed run still has it
            text = json.dumps(self.config, indent=2, default=str)
            self.client.log_text(self.run_id, text, CONFIG_ARTIFACT)
