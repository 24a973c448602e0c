from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.engines.samples import SampleGridSaver, make_grid, save_grid
from monai_gan_aug.errors import ConfigError

from .helpers import tiny_cyclegan


def test_grid_layout_rows_are_images_columns_are_panels(tmp_path):
    panels = {"a": torch.zeros(2, 1, 4, 6), "b": torch.ones(2, 1, 4, 6)}
    grid = make_grid(panels, pad=2)
    assert grid.shape == (2 * 6 + 2, 2 * 8 + 2) and grid.dtype == np.uint8
    assert grid[2, 2] == 0 and grid[2, 10] == 255
    path = save_grid(panels, tmp_path / "g.png")
    assert np.array_equal(np.asarray(Image.open(path)), grid)
    with pytest.raises(ConfigError):
        make_grid({"a": torch.zeros(1, 1, 4, 4), "b": torch.zeros(1, 1, 5, 4)})


def test_saver_writes_one_grid_per_epoch(tmp_path):
    trainer = tiny_cyclegan(max_epochs=2, n=2, batch_size=2)
    saver = SampleGridSaver(tmp_path, max_images=2)
    saver.attach(trainer)
    trainer.run()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["samples_epoch=0001.png", "samples_epoch=0002.png"]
    img = np.asarray(Image.open(tmp_path / names[0]))
    assert img.shape == (2 * 34 + 2, 5 * 34 + 2)  # 2 images x 5 panels of 32 px
