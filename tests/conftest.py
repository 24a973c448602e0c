"""Shared test fixtures: the real-data folder (optional) and small synthetic images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# Real data sits beside the project root (../shared/data); tests using it skip when absent.
SHARED_DATA = Path(os.environ.get("MONAI_GAN_AUG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def require_shared_data() -> Path:
    """Return ../shared/data or skip the calling test with a clear message."""
    if not (SHARED_DATA / "kermany" / "manifest.csv").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (set MONAI_GAN_AUG_SHARED_DATA); skipping")
    return SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    return require_shared_data()


@pytest.fixture
def chest_like() -> np.ndarray:
    """A 96x80 (non-square) float image in [0, 1] with two dark 'lungs' on a brighter body."""
    h, w = 96, 80
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.full((h, w), 0.15, np.float32)
    body = ((xx - w / 2) / (w * 0.45)) ** 2 + ((yy - h / 2) / (h * 0.48)) ** 2 < 1
    img[body] = 0.7
    for cx in (w * 0.32, w * 0.68):
        lung = ((xx - cx) / (w * 0.14)) ** 2 + ((yy - h * 0.48) / (h * 0.3)) ** 2 < 1
        img[lung] = 0.3
    rng = np.random.default_rng(0)
    return np.clip(img + rng.normal(0, 0.02, img.shape).astype(np.float32), 0, 1)


@pytest.fixture(scope="session")
def tiny_lesion_weights(tmp_path_factory) -> Path:
    """A small, randomly initialised lesion generator saved as a self-describing checkpoint.

    Real (not mocked) network and loading path; its fills are noise-like, which is enough to test
    where an edit may and may not change pixels.
    """
    import torch

    from monai_gan_aug.networks.factory import save_network
    from monai_gan_aug.networks.lesion_generator import LesionInpaintGenerator

    torch.manual_seed(0)
    kwargs = {"ngf": 8, "n_res_blocks": 1, "num_classes": 2}
    net = LesionInpaintGenerator(**kwargs)
    path = tmp_path_factory.mktemp("weights") / "tiny_lesion.pt"
    save_network(net, "lesion_generator", kwargs, path, info={"working_size": 64, "context": 2.0, "min_side": 32})
    return path


@pytest.fixture(scope="session")
def tiny_opacity_weights(tmp_path_factory) -> Path:
    """A small, randomly initialised lesion opacity generator (real network and loading path)."""
    import torch

    from monai_gan_aug.networks.factory import save_network
    from monai_gan_aug.networks.opacity_generator import LesionOpacityGenerator

    torch.manual_seed(0)
    kwargs = {"features": [4, 4, 8, 8, 8, 4], "max_density": 2.0}
    net = LesionOpacityGenerator(**kwargs)
    path = tmp_path_factory.mktemp("weights") / "tiny_opacity.pt"
    save_network(net, "lesion_opacity_generator", kwargs, path, info={"window": 32, "edge_sigma": 2.0})
    return path
