from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from monai_gan_aug.errors import CheckpointError, InvalidImageError, MissingWeightsError
from monai_gan_aug.networks.classifier import (
    JUDGE_WEIGHTS,
    XRayClassifier,
    load_pneumonia_judge,
    pneumonia_probability,
    resize_pad_square,
)
from monai_gan_aug.networks.factory import save_network
from monai_gan_aug.utils.weights import WEIGHTS_DIR
from tests.conftest import require_shared_data

torch.set_num_threads(1)
SMALL = {"spatial_size": 64, "block_inplanes": (8, 8, 16, 16)}


def test_shapes_any_input_size():
    net = XRayClassifier(**SMALL).eval()
    for h, w in ((64, 64), (50, 90), (128, 40)):
        x = torch.rand(3, 1, h, w)
        assert net(x).shape == (3, 2)
        assert net.features(x).shape == (3, 16)


def test_resize_pad_keeps_aspect_and_centres():
    x = torch.ones(1, 1, 40, 80)
    y = resize_pad_square(x, 64)
    assert y.shape == (1, 1, 64, 64)
    rows = y[0, 0].sum(1) > 0
    assert rows.sum() == 32 and rows[16:48].all()  # 40x80 -> 32x64, centred vertically
    assert resize_pad_square(torch.rand(2, 1, 64, 64), 64).shape == (2, 1, 64, 64)


def test_bad_inputs_raise_clear_errors():
    net = XRayClassifier(**SMALL)
    with pytest.raises(InvalidImageError, match=r"\(x \+ 1\) / 2"):
        net(torch.rand(1, 1, 64, 64) * 2 - 1)
    with pytest.raises(InvalidImageError):
        net(torch.rand(1, 3, 64, 64))
    with pytest.raises(InvalidImageError):
        net(torch.rand(64, 64))
    with pytest.raises(InvalidImageError):
        net(torch.full((1, 1, 64, 64), float("nan")))


def test_factory_round_trip_and_probability(tmp_path):
    net = XRayClassifier(**SMALL).eval()
    path = tmp_path / "judge.pt"
    save_network(net, "xray_classifier", SMALL, path, info={"test_auc": 0.5})
    loaded = load_pneumonia_judge(path=str(path))
    x = torch.rand(5, 1, 70, 60)
    torch.testing.assert_close(loaded(x), net(x))
    p = pneumonia_probability(loaded, x, batch_size=2)
    assert p.shape == (5,) and ((p >= 0) & (p <= 1)).all()
    torch.testing.assert_close(p, torch.softmax(net(x), 1)[:, 1])
    assert loaded.info == {"test_auc": 0.5}


def test_missing_or_wrong_weights(tmp_path):
    with pytest.raises(MissingWeightsError):
        load_pneumonia_judge(path=str(tmp_path / "absent.pt"))
    torch.save({"network": "xray_classifier", "network_kwargs": SMALL, "state_dict": {}}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError):
        load_pneumonia_judge(path=str(tmp_path / "bad.pt"))


@pytest.mark.skipif(not (WEIGHTS_DIR / JUDGE_WEIGHTS).is_file(), reason="shipped judge weights not present")
def test_shipped_judge_loads_and_reports_its_scores():
    judge = load_pneumonia_judge()
    assert isinstance(judge, XRayClassifier) and not judge.training
    assert judge.info["test"]["auc"] > 0.9  # measured on the held-out patients when it was trained
    assert judge.info["split"].endswith("seed=0")


@pytest.mark.shared_data
@pytest.mark.skipif(not (WEIGHTS_DIR / JUDGE_WEIGHTS).is_file(), reason="shipped judge weights not present")
def test_shipped_judge_separates_held_out_patients():
    from monai.metrics import ROCAUCMetric

    from monai_gan_aug.data.splits import patient_split

    root = require_shared_data() / "kermany"
    with open(root / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    test = patient_split(rows, fractions=(0.7, 0.15, 0.15), seed=0)["test"]
    picked = [r for r in test if r["label"] == "normal"][:12] + [
        r for r in test if r["label"] == "pneumonia"
    ][:12]
    judge = load_pneumonia_judge()
    probs = []
    for r in picked:  # images differ in size: the judge resizes each
        arr = np.asarray(Image.open(root / r["file"]).convert("L"), np.float32) / 255.0
        probs.append(pneumonia_probability(judge, torch.from_numpy(arr)[None, None]))
    labels = torch.tensor([r["label"] == "pneumonia" for r in picked], dtype=torch.float32)
    metric = ROCAUCMetric()
    metric(torch.cat(probs)[:, None], labels[:, None])
    assert metric.aggregate() > 0.85
