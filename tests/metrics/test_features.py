from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.errors import InvalidImageError
from monai_gan_aug.metrics.evaluate import load_image
from monai_gan_aug.metrics.extractors import RandomConvExtractor
from monai_gan_aug.metrics.features import cache_key, cached_features, check_features
from tests.metrics._phantoms import phantoms

torch.set_num_threads(1)


class CountingExtractor(RandomConvExtractor):
    """The real random-conv extractor, counting how many images it processes."""

    calls = 0

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        CountingExtractor.calls += len(images)
        return super()._features(images)


def write_pngs(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(phantoms(n, size=32, seed=seed)):
        p = folder / f"img{i}.png"
        Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_cache_reuse_and_invalidation(tmp_path):
    files = write_pngs(tmp_path / "real", 5)
    ext = CountingExtractor(feature_dim=8, size=32)
    CountingExtractor.calls = 0
    a = cached_features(ext, files, load_image, tmp_path / "cache", batch_size=2)
    assert CountingExtractor.calls == 5 and a.shape == (5, 8)
    caches = list((tmp_path / "cache").glob("*.npz"))
    assert len(caches) == 1 and caches[0].name.startswith(ext.name)
    assert not list((tmp_path / "cache").glob(".*tmp*"))  # atomic write left no temp file
    b = cached_features(ext, files, load_image, tmp_path / "cache")
    assert CountingExtractor.calls == 5  # served from disk
    np.testing.assert_array_equal(a, b)
    # a changed file changes the key: recomputed
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(files[0])
    os.utime(files[0], ns=(1, 1))
    cached_features(ext, files, load_image, tmp_path / "cache")
    assert CountingExtractor.calls == 10
    # a different extractor never shares a cache entry
    assert cache_key(ext, files) != cache_key(RandomConvExtractor(feature_dim=8, size=32, seed=1), files)


def test_check_features():
    with pytest.raises(InvalidImageError):
        check_features(np.zeros(5))
    assert check_features(torch.ones(3, 2)).dtype == np.float64
