from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from monai_gan_aug.errors import ConfigError, DatasetError
from monai_gan_aug.metrics.downstream import paired_difference_ci
from monai_gan_aug.metrics.downstream_segmentation import (
    evaluate_segmenter,
    prepare_segmentation_items,
    sample_items,
    segmentation_utility_experiment,
    synthesize_lesion_items,
    train_segmenter,
)

torch.set_num_threads(1)

SIZE = 32
SMALL = (8, 16, 32)  # a three-level UNet keeps each training to a second or two


def toy_items(n: int, seed: int, prefix: str = "p", empty_every: int = 0) -> list[dict]:
    """Bright discs (the 'lesions', radius 4-7) on a noisy darker background; the label is the disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    items = []
    for k in range(n):
        img = 0.3 + 0.05 * rng.standard_normal((SIZE, SIZE))
        mask = np.zeros((SIZE, SIZE), bool)
        if not (empty_every and k % empty_every == 0):
            cy, cx = rng.integers(8, SIZE - 8, size=2)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(4, 8) ** 2
            img[mask] = 0.9 + 0.05 * rng.standard_normal(int(mask.sum()))
        items.append({"image": torch.from_numpy(np.clip(img, 0, 1)).float()[None],
                      "label": torch.from_numpy(mask.astype(np.float32))[None],
                      "patient": f"{prefix}{seed}_{k}"})
    return items


def threshold_net(level: float = 0.6) -> torch.nn.Module:
    """A 1x1 convolution whose sigmoid is > 0.5 exactly where the image is > ``level``: a real segmenter."""
    net = torch.nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        net.weight.fill_(100.0)
        net.bias.fill_(-100.0 * level)
    return net


def test_unet_learns_toy_lesions():
    train, test = toy_items(24, seed=0, prefix="tr"), toy_items(12, seed=1, prefix="te")
    model = train_segmenter(train, size=SIZE, steps=80, seed=0, batch_size=8, lr=1e-2, augment=False,
                            channels=SMALL)
    scores = evaluate_segmenter(model, test, size=SIZE)
    assert scores["dice"] > 0.8
    assert scores["iou"] > 0.65
    assert scores["accuracy"] > 0.95
    assert scores["n"] == 12 and scores["n_with_lesion"] == 12
    untrained = train_segmenter(train, size=SIZE, steps=1, seed=0, batch_size=8, augment=False,
                                channels=SMALL)
    assert evaluate_segmenter(untrained, test, size=SIZE)["dice"] < 0.5  # the 80 steps did the work


def test_training_is_deterministic_given_seed():
    train = toy_items(6, seed=2)
    kw = dict(size=SIZE, steps=3, batch_size=4, channels=SMALL)  # with augmentation: its RNG is seeded too
    a, b, c = (train_segmenter(train, seed=s, **kw).state_dict() for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_evaluate_known_answers():
    items = toy_items(6, seed=3, empty_every=3)  # films 0 and 3 carry no lesion
    exact = evaluate_segmenter(threshold_net(), items, size=SIZE)
    assert exact == {"dice": 1.0, "iou": 1.0, "accuracy": 1.0, "n": 6, "n_with_lesion": 4}
    # threshold above every pixel: empty predictions, Dice 0 on lesion films, accuracy = background share
    labels = torch.stack([i["label"] for i in items])
    none = evaluate_segmenter(threshold_net(2.0), items, size=SIZE)
    assert none["dice"] == 0.0 and none["iou"] == 0.0
    assert none["accuracy"] == pytest.approx(float(1 - labels.mean()), abs=1e-6)
    # half a lesion predicted: Dice 2|A&B|/(|A|+|B|) = 2*h/(h + n) per film
    half = [dict(i, image=i["image"].clone()) for i in items]
    expected = []
    for i in half:
        rows = torch.nonzero(i["label"][0].sum(1)).flatten()
        if len(rows):
            cut = int(rows[len(rows) // 2])
            i["image"][0, cut:][i["label"][0, cut:] > 0] = 0.5  # lower rows of the disc now below 0.6
            n, h = float(i["label"].sum()), float(i["label"][0, :cut].sum())
            expected.append(2 * h / (h + n))
    dice = evaluate_segmenter(threshold_net(), half, size=SIZE)["dice"]
    assert dice == pytest.approx(np.mean(expected), abs=1e-5)


def test_prepare_keeps_image_and_mask_aligned():
    img, mask = torch.zeros(1, 40, 20), torch.zeros(1, 40, 20)
    img[0, 10:30, 4:16] = 0.8
    mask[0, 10:30, 4:16] = 1
    out = prepare_segmentation_items([{"image": img, "label": mask}], 20)[0]
    assert out["image"].shape == out["label"].shape == (1, 20, 20)
    assert set(out["label"].unique().tolist()) == {0.0, 1.0}
    # 40x20 -> 20x10, centred: 5 px of zero padding left and right; the box maps to rows 5-14, cols 7-12
    expected = torch.zeros(20, 20)
    expected[5:15, 7:13] = 1
    assert torch.equal(out["label"][0], expected)
    assert torch.equal(out["image"][0] > 0.4, expected.bool())


def test_errors():
    train = toy_items(3, seed=0)
    with pytest.raises(DatasetError, match="only 3 available"):
        sample_items(train, 4, 0)
    with pytest.raises(ConfigError):
        sample_items(train, -1, 0)
    with pytest.raises(DatasetError, match="empty"):
        train_segmenter([], size=SIZE, steps=1)
    with pytest.raises(ConfigError, match="steps"):
        train_segmenter(train, size=SIZE, steps=0)
    with pytest.raises(DatasetError, match="does not match"):
        prepare_segmentation_items([{"image": torch.zeros(1, 8, 8), "label": torch.zeros(1, 8, 9)}], SIZE)
    with pytest.raises(DatasetError, match="'label'"):
        prepare_segmentation_items([{"image": torch.zeros(1, 8, 8)}], SIZE)
    with pytest.raises(DatasetError, match="empty"):
        evaluate_segmenter(threshold_net(), [], size=SIZE)
    with pytest.raises(DatasetError, match="no test film has a lesion"):
        evaluate_segmenter(threshold_net(), toy_items(2, seed=1, empty_every=1), size=SIZE)
    synth, test = toy_items(2, seed=4, prefix="sy"), toy_items(2, seed=5, prefix="te")
    kw = dict(seeds=[0], size=SIZE, steps=1, channels=SMALL)
    with pytest.raises(DatasetError, match="4 real training films, 3 available"):
        segmentation_utility_experiment(train, synth, test, n_real=4, n_synthetic=1, **kw)
    with pytest.raises(DatasetError, match="3 synthetic training films, 2 available"):
        segmentation_utility_experiment(train, synth, test, n_real=2, n_synthetic=3, **kw)
    with pytest.raises(DatasetError, match="overlap"):
        segmentation_utility_experiment(train, synth, train, n_real=2, n_synthetic=1, **kw)
    with pytest.raises(DatasetError, match="lung_mask"):
        synthesize_lesion_items([{"image": torch.zeros(1, 16, 16)}])


def test_experiment_reports_both_arms_and_paired_differences():
    train, test = toy_items(8, seed=0, prefix="tr"), toy_items(4, seed=1, prefix="te")
    synth = toy_items(6, seed=2, prefix="sy")
    out = segmentation_utility_experiment(train, synth, test, seeds=[0, 1], n_real=3, n_synthetic=4,
                                          size=SIZE, steps=2, batch_size=4, channels=SMALL)
    assert [r["seed"] for r in out["per_seed"]] == [0, 1]
    for row in out["per_seed"]:
        assert row["real_only"]["n_train"] == 3 and row["real_plus_synthetic"]["n_train"] == 7
        assert row["real_only"]["n"] == 4
    for key in ("dice", "iou", "accuracy"):
        a = [r["real_only"][key] for r in out["per_seed"]]
        b = [r["real_plus_synthetic"][key] for r in out["per_seed"]]
        assert out[f"{key}_difference"] == paired_difference_ci(a, b)
        assert out[f"{key}_mean"]["real_only"] == pytest.approx(np.mean(a))


def _lungs(chest: np.ndarray) -> torch.Tensor:
    """The two dark ellipses of the ``chest_like`` fixture (same formula), as a (1, H, W) mask."""
    h, w = chest.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lung = np.zeros((h, w), bool)
    for cx in (w * 0.32, w * 0.68):
        lung |= ((xx - cx) / (w * 0.14)) ** 2 + ((yy - h * 0.48) / (h * 0.3)) ** 2 < 1
    return torch.from_numpy(lung.astype(np.float32))[None]


def test_synthetic_labels_are_the_painted_region(chest_like):
    """Shipped lesion generator, real pipeline: the label is the lesion footprint painted inside the
    recorded region (clipped to the lung), the film changed there and is bit-identical beyond the
    region's feather band."""
    from monai_gan_aug.transforms.region import RegionMask

    image, lung = torch.from_numpy(chest_like)[None], _lungs(chest_like)
    normals = [{"image": image, "lung_mask": lung, "patient": f"n{k}"} for k in range(2)]
    out = synthesize_lesion_items(normals, seed=3, feather=4)
    again = synthesize_lesion_items(normals, seed=3, feather=4)
    for o, o2 in zip(out, again):
        label = o["label"]
        assert label.shape == image.shape and set(label.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(o["image"], o2["image"]) and torch.equal(label, o2["label"])  # seeded
        assert bool((label <= lung).all())  # inside the lung
        region = o["region"]["region"]
        assert o["region"]["mode"] == "lesion" and len(region["boxes"]) == 2
        drawn, _ = RegionMask(feather=0)(image, region={"boxes": region["boxes"]}, lung=lung)
        drawn = torch.as_tensor(drawn)
        assert bool((label <= drawn).all()) and 0 < float(label.sum()) < float(drawn.sum())  # a footprint
        inside = label[0] > 0
        assert float((o["image"] - image).abs()[0][inside].mean()) > 0.005  # the generator painted there
        band = ndimage.binary_dilation(drawn[0].numpy() > 0, iterations=5)  # feather 4 px + 1
        assert torch.equal(o["image"][0][torch.from_numpy(~band)], image[0][torch.from_numpy(~band)])
        assert o["patient"] in ("n0", "n1") and o["synthetic"] == "lesion_inpaint"  # the method name; the weights are lesion_opacity.pt
    assert not torch.equal(out[0]["label"], out[1]["label"])  # per-film seeds differ
    small = synthesize_lesion_items(normals[:1], seed=3, feather=4, size=SIZE)[0]
    assert small["image"].shape == small["label"].shape == (1, SIZE, SIZE)
    assert torch.equal(small["label"], prepare_segmentation_items([out[0]], SIZE)[0]["label"])
