"""Inception-Score-style score: ``exp(E_x KL(p(y|x) || p(y)))`` from any classifier's softmax.

Salimans et al. 2016 use Inception-v3's 1000 ImageNet classes; here the classifier is pluggable
(EfficientNet-Lite0's 1000 classes, or the pneumonia judge's 2 classes, where the score lies in
``[1, 2]`` and is high when every image is classified confidently *and* both classes occur).
The score is computed on ``splits`` consecutive chunks and reported as mean and std.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError, InvalidImageError

__all__ = ["inception_score_from_probs"]

_EPS = 1e-12  # avoids log(0) for exact zeros in float64 softmax outputs


def inception_score_from_probs(probs: np.ndarray | torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """Inception Score mean and std over ``splits`` chunks of ``(N, K)`` class probabilities."""
    p = (
        probs.detach().cpu().double().numpy()
        if isinstance(probs, torch.Tensor)
        else np.asarray(probs, np.float64)
    )
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise InvalidImageError(f"expected (N, K >= 2) class probabilities, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise InvalidImageError("class probabilities must be finite, non-negative, and sum to 1 per row")
    if not 1 <= splits <= len(p):
        raise ConfigError(f"splits must be between 1 and the number of images ({len(p)}), got {splits}")
    scores = []
    for chunk in np.array_split(p, splits):
        p_y = chunk.mean(axis=0, keepdims=True)
        kl = (chunk * (np.log(chunk + _EPS) - np.log(p_y + _EPS))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
