"""Tests of monai_gan_aug/data/pathology.py: datalists, keep/synthesis masks, training pipeline, inferer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_gan_aug.data import pathology as P
from monai_gan_aug.errors import ConfigError, DatasetError, InvalidImageError, RegionError
from monai_gan_aug.networks.unet_generator import UNetGenerator


def _png(path, arr: np.ndarray) -> str:
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture
def chest_png(tmp_path, chest_like) -> str:
    """The 96x80 (H x W) synthetic chest as an 8-bit PNG."""
    return _png(tmp_path / "chest.png", (chest_like * 255).round().astype(np.uint8))


class _Recorder(torch.nn.Module):
    """A real (trivial) network that remembers its input and returns a constant image."""

    def __init__(self, value: float = -1.0) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.zeros(1))
        self.value = value
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return torch.full_like(x[:, :1], self.value) + self.scale


# ------------------------------------------------------------------------------------ datalists


def test_pathology_items_boxes_kept_together_normals_get_random_boxes_others_skipped():
    data = [
        {"image": "a.png", "class_index": 1, "boxes": [[1, 2, 5, 6], [7, 7, 9, 9]]},
        {"image": "b.png", "class_index": 0, "lung_mask": "b_lung.png"},
        {"image": "c.png", "class_index": 1},  # pneumonia without boxes: nothing to preserve
        {"image": "d.png", "class_index": -1},
        {"label": "no image"},
    ]
    items = P.pathology_items(data, "src", box_repeat=2)
    assert items == [
        {"image": "a.png", "boxes": [[1.0, 2.0, 5.0, 6.0], [7.0, 7.0, 9.0, 9.0]], "source": "src:boxes"},
        {"image": "a.png", "boxes": [[1.0, 2.0, 5.0, 6.0], [7.0, 7.0, 9.0, 9.0]], "source": "src:boxes"},
        {"image": "b.png", "source": "src:random_boxes", "lung_mask": "b_lung.png"},
    ]


def _manifest(tmp_path, rows: list[tuple[str, str, str]]) -> str:
    img = (np.random.default_rng(0).random((40, 30)) * 255).astype(np.uint8)
    lines = ["file,label,patient,bbox"]
    for name, label, bbox in rows:
        _png(tmp_path / name, img)
        lines.append(f"{name},{label},{name[:-4]},{bbox}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "manifest.csv")


def test_pathology_datalist_from_a_manifest_with_boxes(tmp_path):
    csv_path = _manifest(tmp_path, [("p1.png", "covid", "2 3 10 12;5 5 6 6"), ("n1.png", "normal", ""),
                                    ("p2.png", "pneumonia", "")])
    items = P.pathology_datalist(csv_path, split=None)
    by_image = {it["image"].rsplit("/", 1)[-1]: it for it in items}
    assert sorted(by_image) == ["n1.png", "p1.png"]
    # manifest boxes are end-inclusive; the adapter makes them end-exclusive
    assert by_image["p1.png"]["boxes"] == [[2.0, 3.0, 11.0, 13.0], [5.0, 5.0, 7.0, 7.0]]
    assert "boxes" not in by_image["n1.png"]


def test_pathology_datalist_errors(tmp_path):
    only_normals = _manifest(tmp_path, [("n1.png", "normal", ""), ("n2.png", "normal", "")])
    with pytest.raises(DatasetError, match="no image with lesion boxes"):
        P.pathology_datalist(only_normals, split=None)
    assert len(P.pathology_datalist(only_normals, split=None, require_boxes=False)) == 2
    with pytest.raises(ConfigError, match="box_repeat"):
        P.pathology_datalist(only_normals, split=None, box_repeat=0)


def test_box_csv_datalist_groups_rows_and_splits_cells(tmp_path, chest_png):
    other = _png(tmp_path / "other.png", np.zeros((10, 10), np.uint8))
    (tmp_path / "boxes.csv").write_text(
        'image,box\nchest.png,"10,20,30,40"\nother.png,1 1 5 5;2 2 8 9\nchest.png,"0,0,4.5,4"\n'
    )
    items = P.box_csv_datalist(tmp_path / "boxes.csv")
    assert items == [
        {"image": chest_png, "boxes": [[10.0, 20.0, 30.0, 40.0], [0.0, 0.0, 4.5, 4.0]]},
        {"image": other, "boxes": [[1.0, 1.0, 5.0, 5.0], [2.0, 2.0, 8.0, 9.0]]},
    ]
    assert len(P.box_csv_datalist(tmp_path / "boxes.csv", max_items=1)) == 1


@pytest.mark.parametrize(
    "text, match",
    [
        ("img,box\nchest.png,1 2 3 4\n", "columns 'image' and 'box'"),
        ("image,box\nchest.png,1 2 3\n", "4 numbers"),
        ("image,box\nchest.png,5 2 3 4\n", "0 <= x0 < x1"),
        ("image,box\nmissing.png,1 2 3 4\n", "do not exist"),
        ("image,box\nchest.png,\n", "empty box cell"),
    ],
)
def test_box_csv_datalist_rejects_bad_files(tmp_path, chest_png, text, match):
    (tmp_path / "boxes.csv").write_text(text)
    with pytest.raises(DatasetError, match=match):
        P.box_csv_datalist(tmp_path / "boxes.csv")


def test_inference_datalist_needs_boxes_for_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="box_csv"):
        P.inference_datalist(None, tmp_path)


# ------------------------------------------------------------------------------------ masks


def test_keep_mask_is_one_exactly_inside_the_boxes_clipped_to_the_image():
    img = torch.zeros(1, 20, 30)
    keep = P.KeepMask()(img, [[2, 3, 6, 8], [25, 15, 40, 25]])
    expected = torch.zeros(1, 20, 30)
    expected[0, 3:8, 2:6] = 1
    expected[0, 15:20, 25:30] = 1  # clipped at the image border
    assert torch.equal(torch.as_tensor(keep), expected)
    with pytest.raises(RegionError):
        P.KeepMask()(img, [])
    with pytest.raises(InvalidImageError):
        P.KeepMask()(torch.zeros(2, 20, 30), [[2, 3, 6, 8]])


def test_keep_maskd_only_where_boxes_are_given():
    d = P.KeepMaskd(keys="image")({"image": torch.zeros(1, 10, 10), "boxes": [[0, 0, 2, 2]]})
    assert float(torch.as_tensor(d["keep_mask"]).sum()) == 4
    assert "keep_mask" not in P.KeepMaskd(keys="image")({"image": torch.zeros(1, 10, 10)})
    assert P.KeepMaskD is P.KeepMaskDict is P.KeepMaskd


def test_rand_keep_maskd_draws_in_the_lung_reproducibly_and_never_overrides_real_boxes():
    img = torch.zeros(1, 64, 64)
    lung = torch.zeros(1, 64, 64)
    lung[0, 10:50, 5:25] = 1
    t = P.RandKeepMaskd(keys="image", num_boxes=1, min_lung_overlap=1.0).set_random_state(3)
    a = torch.as_tensor(t({"image": img, "lung_mask": lung})["keep_mask"])
    b = torch.as_tensor(P.RandKeepMaskd(keys="image", num_boxes=1, min_lung_overlap=1.0).set_random_state(3)(
        {"image": img, "lung_mask": lung})["keep_mask"])
    assert torch.equal(a, b) and a.sum() > 0
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    # the box lies in the lung (overlap 1.0 required; the fallback keeps the box centred in the lung)
    assert float((a * lung).sum()) / float(a.sum()) > 0.5
    real = torch.ones(1, 64, 64)
    assert t({"image": img, "keep_mask": real})["keep_mask"] is real


def test_synthesis_maskd_is_one_minus_keep():
    keep = torch.tensor([[[0.0, 0.7], [1.0, 0.2]]])
    out = P.SynthesisMaskd(keys="keep_mask")({"keep_mask": keep})["region_mask"]
    assert torch.equal(out, torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
    assert np.array_equal(P.SynthesisMask()(keep.numpy()), out.numpy())
    with pytest.raises(ConfigError):
        P.SynthesisMaskd(keys=("a", "b"), region_key="r")


# ------------------------------------------------------------------------------------ pipeline + inferer


def test_train_transforms_resize_pad_and_mark_the_box_as_kept(chest_png):
    t = P.pathology_train_transforms(working_size=32)
    t.set_random_state(0)
    out = t({"image": chest_png, "boxes": [[20.0, 24.0, 60.0, 72.0]]})
    assert set(out) == {"image", "region_mask"}
    assert out["image"].shape == out["region_mask"].shape == (1, 32, 32)
    r = out["region_mask"]
    # 96x80 -> 32x27 (longest side), padded 2 + 3 columns; rows scale by 1/3, columns by 27/80
    # (torch "nearest" samples source index floor(i * scale): columns 20..59 -> 7..20)
    kept = (r[0] == 0).nonzero()
    assert kept[:, 0].min() == 8 and kept[:, 0].max() == 23
    assert kept[:, 1].min() == 2 + 7 and kept[:, 1].max() == 2 + 20
    random_item = t({"image": chest_png})
    assert 0 < float((random_item["region_mask"] == 0).float().mean()) <= 0.5
    with pytest.raises(ConfigError):
        P.pathology_train_transforms(8)


def test_inferer_sees_what_training_sees_and_keeps_the_box_bit_identical(chest_png):
    boxes = [[20.0, 24.0, 60.0, 72.0]]
    train_view = P.pathology_train_transforms(32)({"image": chest_png, "boxes": boxes})
    d = P.pathology_inference_transforms()({"image": chest_png, "boxes": boxes})
    x, keep = d["image"][None], d["keep_mask"][None]
    net = _Recorder(value=-1.0)  # generates black surroundings
    out = P.PathologyCompositeInferer(size=32)(x, net, keep_mask=keep)
    (cond,) = net.seen
    r = train_view["region_mask"]
    expected = torch.cat([(train_view["image"] * 2 - 1) * (1 - r), r])[None]
    assert torch.allclose(cond, expected, atol=1e-6)
    assert out.shape == x.shape and isinstance(out, MetaTensor)
    assert out.meta["filename_or_obj"] == x.meta["filename_or_obj"]
    inside = keep.bool()
    assert torch.equal(out[inside], x[inside])
    assert float(out[~inside].abs().max()) == 0.0


def test_inferer_with_a_unet_and_feather(chest_png):
    torch.manual_seed(0)
    net = UNetGenerator(in_channels=2, out_channels=1, ngf=4, num_downs=5).eval()
    d = P.pathology_inference_transforms()({"image": chest_png, "boxes": [[10, 10, 30, 40], [50, 60, 70, 90]]})
    x, keep = d["image"][None], d["keep_mask"][None]
    hard = P.PathologyCompositeInferer(size=32)(x, net, keep_mask=keep)
    soft = P.PathologyCompositeInferer(size=32, feather=6)(x, net, keep_mask=keep)
    inside = keep.bool()
    for out in (hard, soft):
        assert torch.equal(out[inside], x[inside])
        assert float(out.min()) >= 0 and float(out.max()) <= 1
    ring = torch.zeros_like(inside)
    ring[..., 7:43, 7:33] = True
    ring &= ~inside
    # the feathered ramp pulls the ring next to the box towards the input
    assert (soft[ring] - x[ring]).abs().mean() < (hard[ring] - x[ring]).abs().mean()
    far = torch.zeros_like(inside)
    far[..., :, 75:] = True
    assert torch.equal(soft[far], hard[far])


def test_inferer_rejects_bad_input():
    net = _Recorder()
    inf = P.PathologyCompositeInferer(size=16)
    x = torch.rand(1, 1, 20, 20)
    with pytest.raises(RegionError, match="needs keep_mask"):
        inf(x, net)
    with pytest.raises(RegionError, match="does not match"):
        inf(x, net, keep_mask=torch.ones(1, 1, 10, 10))
    with pytest.raises(RegionError, match="empty"):
        inf(x, net, keep_mask=torch.zeros(1, 1, 20, 20))
    with pytest.raises(InvalidImageError):
        inf(torch.rand(1, 3, 20, 20), net, keep_mask=torch.ones(1, 3, 20, 20))
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidImageError, match="NaN"):
        inf(bad, net, keep_mask=torch.ones(1, 1, 20, 20))
    with pytest.raises(ConfigError):
        P.PathologyCompositeInferer(size=16, feather=-1)
