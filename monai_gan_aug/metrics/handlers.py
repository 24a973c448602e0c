"""Ignite handler: every N epochs, sample from the generator and score FID / KID against a real set.

Usable from any bundle's ``train.json``::

    {"_target_": "monai_gan_aug.metrics.handlers.GenerativeMetricsHandler",
     "sample_fn": "$lambda n: @generator(torch.randn(n, 128, 1, 1))",
     "real": "$[d['image'] for d in @val_datalist]",  # paths, a (N,1,H,W) tensor, or features
     "input_range": [-1, 1], "extractor": "judge", "interval": 5, "num_samples": 256}

Scores go to ``engine.state.metrics`` (``fid``, ``kid``, ``kid_std`` with an optional prefix), so
stock handlers (StatsHandler, MLFlowHandler, checkpoint selection) see them; they are also
logged to MLflow directly when an MLflow run is active.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import ConfigError
from .extractors import FeatureExtractor, get_extractor
from .features import DEFAULT_CACHE_DIR
from .fid import fid_from_features
from .kid import kid_from_features

if TYPE_CHECKING:
    from ignite.engine import Engine

__all__ = ["GenerativeMetricsHandler", "FIDHandler"]

_METRICS = ("fid", "kid")


class GenerativeMetricsHandler:
    """Compute FID / KID of generated samples every ``interval`` epochs.

    Args:
        sample_fn: ``sample_fn(n) -> (n, C, H, W)`` generated images (called under ``no_grad``).
        real: the real set: a list of image paths (features cached on disk), a ``(N, C, H, W)``
            image tensor in ``[0, 1]``, or a precomputed ``(N, D)`` feature array.
        extractor: name, TorchScript path, module or :class:`FeatureExtractor` (see ``get_extractor``).
        interval: run every this many epochs (and never before the first epoch completes).
        num_samples: generated images per evaluation.
        input_range: intensity range of ``sample_fn``'s output, mapped to ``[0, 1]`` (``(-1, 1)`` for tanh).
        metrics: any of ``"fid"``, ``"kid"``.
        prefix: prepended to metric names in ``engine.state.metrics`` (e.g. ``"val_"``).
        seed: fixed RNG seed for sampling, so that successive evaluations use the same latents
            (less noise between epochs); ``None`` keeps the global RNG stream.
        batch_size: generator / extractor batch size.
        kid_subset_size: KID subset size (capped by the set sizes).
        cache_dir: feature cache folder for ``real`` given as paths (``None``: memory only).
        log_mlflow: log to the active MLflow run if there is one.
        load_fn: reader for ``real`` paths; defaults to :func:`monai_gan_aug.metrics.evaluate.load_image`.
        network: the generator behind ``sample_fn``; if given it is put in eval mode while sampling
            (batch norm / dropout) and restored to its previous mode afterwards.
    """

    def __init__(
        self,
        sample_fn: Callable[[int], torch.Tensor],
        real: Sequence[str] | torch.Tensor | np.ndarray,
        extractor: str | FeatureExtractor | Any = "inception",
        interval: int = 1,
        num_samples: int = 256,
        input_range: Sequence[float] = (0.0, 1.0),
        metrics: Sequence[str] = _METRICS,
        prefix: str = "",
        seed: int | None = 0,
        batch_size: int = 32,
        kid_subset_size: int = 1000,
        cache_dir: str | None = DEFAULT_CACHE_DIR,
        log_mlflow: bool = True,
        load_fn: Callable[[str], torch.Tensor] | None = None,
        network: torch.nn.Module | None = None,
    ) -> None:
        if not callable(sample_fn):
            raise ConfigError(f"sample_fn must be callable (n -> images), got {type(sample_fn).__name__}")
        unknown = set(metrics) - set(_METRICS)
        if unknown or not metrics:
            raise ConfigError(f"metrics must be a non-empty subset of {_METRICS}, got {list(metrics)}")
        if interval < 1 or num_samples < 2:
            raise ConfigError(f"need interval >= 1 and num_samples >= 2, got {interval}, {num_samples}")
        lo, hi = (float(v) for v in input_range)
        if not hi > lo:
            raise ConfigError(f"input_range must be (low, high) with high > low, got {tuple(input_range)}")
        self.sample_fn, self.real, self.interval, self.num_samples = sample_fn, real, interval, num_samples
        self.input_range, self.metrics, self.prefix, self.seed = (lo, hi), tuple(metrics), prefix, seed
        self.batch_size, self.kid_subset_size, self.cache_dir = batch_size, kid_subset_size, cache_dir
        self.log_mlflow, self.load_fn, self.network = log_mlflow, load_fn, network
        self._extractor_spec = extractor
        self._extractor: FeatureExtractor | None = None
        self._real_features: np.ndarray | None = None
        self.history: list[dict[str, float]] = []
        self.logger = logging.getLogger(__name__)

    # -- lazy pieces: weights and real features load on the first evaluation, not at config parse
    @property
    def extractor(self) -> FeatureExtractor:
        if self._extractor is None:
            self._extractor = get_extractor(self._extractor_spec)
        return self._extractor

    def real_features(self) -> np.ndarray:
        if self._real_features is None:
            real = self.real
            if isinstance(real, np.ndarray) and real.ndim == 2:
                self._real_features = real.astype(np.float64)
            elif isinstance(real, torch.Tensor) and real.ndim == 2:
                self._real_features = real.double().numpy()
            elif isinstance(real, torch.Tensor):
                self._real_features = self.extractor.extract(real, self.batch_size)
            else:
                from .evaluate import load_image
                from .features import cached_features

                self._real_features = cached_features(
                    self.extractor, list(real), self.load_fn or load_image, self.cache_dir, self.batch_size
                )
        return self._real_features

    def attach(self, engine: Engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self)

    @torch.no_grad()
    def generate(self) -> torch.Tensor:
        """Draw ``num_samples`` images from ``sample_fn`` in batches, mapped to ``[0, 1]``."""
        lo, hi = self.input_range
        was_training = self.network.training if self.network is not None else False
        if self.network is not None:
            self.network.eval()
        try:
            return self._draw(lo, hi)
        finally:
            if self.network is not None:
                self.network.train(was_training)

    def _draw(self, lo: float, hi: float) -> torch.Tensor:
        with torch.random.fork_rng(enabled=self.seed is not None, devices=[]):
            if self.seed is not None:
                torch.manual_seed(self.seed)
            out, left = [], self.num_samples
            while left > 0:
                batch = torch.as_tensor(self.sample_fn(min(self.batch_size, left))).detach().float().cpu()
                batch = (batch - lo) / (hi - lo)
                if batch.numel() and (batch.min() < -0.05 or batch.max() > 1.05):
                    span = (batch.min().item() * (hi - lo) + lo, batch.max().item() * (hi - lo) + lo)
                    raise ConfigError(
                        f"sample_fn output spans [{span[0]:.3g}, {span[1]:.3g}], outside input_range "
                        f"{self.input_range}; set input_range to the generator's output range"
                    )
                out.append(batch.clamp(0, 1))
                left -= len(batch)
                if len(batch) == 0:
                    raise ConfigError("sample_fn returned no images")
        return torch.cat(out)[: self.num_samples]

    def compute(self) -> dict[str, float]:
        """Generate, extract, score; returns ``{name: value}`` without the prefix."""
        fake = self.extractor.extract(self.generate(), self.batch_size)
        real = self.real_features()
        scores: dict[str, float] = {}
        if "fid" in self.metrics:
            scores["fid"] = fid_from_features(real, fake)
        if "kid" in self.metrics:
            scores["kid"], scores["kid_std"] = kid_from_features(real, fake, subset_size=self.kid_subset_size)
        return scores

    def __call__(self, engine: Engine) -> None:
        scores = self.compute()
        named = {f"{self.prefix}{k}": v for k, v in scores.items()}
        engine.state.metrics.update(named)
        self.history.append({"epoch": engine.state.epoch, **named})
        self.logger.info(
            "epoch %d generative metrics (%s): %s",
            engine.state.epoch,
            self.extractor.name,
            ", ".join(f"{k}={v:.4g}" for k, v in named.items()),
        )
        if self.log_mlflow:
            _log_mlflow(named, engine.state.epoch)


def _log_mlflow(values: dict[str, float], step: int) -> None:
    try:
        import mlflow
    except ImportError:  # mlflow is optional at run time
        return
    if mlflow.active_run() is not None:
        mlflow.log_metrics(values, step=step)


FIDHandler = GenerativeMetricsHandler
