"""bundles/diffmap_segmentation: the ``source`` switch (issue #18): CycleGAN G_BA or healing by inpainting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, run
from PIL import Image

from monai_gan_aug.inferers.difference_map import DifferenceMapInferer
from monai_gan_aug.networks.factory import load_network, save_network
from monai_gan_aug.networks.lesion_generator import LesionInpaintGenerator
from monai_gan_aug.transforms.io import LoadXRay

CONFIGS = Path(__file__).resolve().parents[2] / "bundles" / "diffmap_segmentation" / "configs"


def _parser(**overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    parser.update(overrides)
    return parser


@pytest.mark.parametrize(
    "source, weights", [("cyclegan", "cyclegan_G_BA.pt"), ("healing", "lesion_inpaint.pt")]
)
def test_source_switch_parses(source, weights):
    parser = _parser(source=source, thresholding="otsu")
    assert parser.get_parsed_content("ckpt_path").endswith(weights)
    inferer = parser.get_parsed_content("inferer")
    assert isinstance(inferer, DifferenceMapInferer)
    assert inferer.source == source and inferer.thresholding == "otsu"
    assert inferer.healer.window == parser.get_parsed_content("healing_window")


def test_healing_inference_runs(tmp_path):
    torch.manual_seed(0)
    kw = {"ngf": 4, "n_res_blocks": 1}
    weights = tmp_path / "inpaint.pt"
    save_network(
        LesionInpaintGenerator(**kw),
        "lesion_generator",
        kw,
        weights,
        info={"working_size": 16, "context": 2.25},
    )
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(60, 200, (40, 36), dtype=np.uint8)).save(src / "a.png")
    out = tmp_path / "out"
    run(
        config_file=str(CONFIGS / "inference.json"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=False,
        input_dir=str(src),
        source="healing",
        healing_ckpt_path=str(weights),
        healing_window=80,
        output_dir=str(out),
        use_lung=False,
        min_size=0,
        num_threads=1,
        write_overlays=False,
    )
    mask = np.asarray(Image.open(out / "masks" / "a_lesion_mask.png")) > 0
    expected = (
        DifferenceMapInferer(source="healing", window=80, lung=None, min_size=0)(
            LoadXRay()(src / "a.png")[None], load_network(weights)
        )[0, 0].numpy()
        > 0
    )
    np.testing.assert_array_equal(mask, expected)
