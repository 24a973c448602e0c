"""Tests of ``scripts/eval_bundle_table.py`` on tiny synthetic folders (no real data needed)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from monai_gan_aug.metrics.extractors import RandomConvExtractor
from tests.metrics._phantoms import add_noise, phantoms

torch.set_num_threads(1)
_SPEC = importlib.util.spec_from_file_location(
    "eval_bundle_table", Path(__file__).resolve().parents[1] / "scripts" / "eval_bundle_table.py"
)
table = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = table  # dataclasses look their module up while the script is executed
_SPEC.loader.exec_module(table)


def _write(folder: Path, images: torch.Tensor) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_skipped_without_data(tmp_path, capsys):
    assert table.main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("SKIPPED: real data not found")
    assert not (tmp_path / "out").exists()


def test_sample_items_is_seeded_and_keeps_order():
    items = [{"i": i} for i in range(20)]
    a, b = table.sample_items(items, 5, seed=0), table.sample_items(items, 5, seed=0)
    assert a == b and len(a) == 5 and [d["i"] for d in a] == sorted(d["i"] for d in a)
    assert table.sample_items(items, 5, seed=1) != a
    assert table.sample_items(items, 50) == items and table.sample_items(items, None) == items


def test_kept_fraction_of_boxes(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(path)
    # two overlapping boxes: union 10x20 + 10x10 = 300 of 2000 pixels
    item = {"image": str(path), "boxes": [[0, 0, 20, 10], [10, 0, 20, 20]]}
    assert table.kept_fraction([item]) == 300 / 2000


def test_rows_scored_and_tabled(tmp_path):
    real = _write(tmp_path / "real", phantoms(20, size=32, seed=0))
    same = _write(tmp_path / "same", phantoms(20, size=32, seed=1))
    noisy = _write(tmp_path / "noisy", add_noise(phantoms(20, size=32, seed=1), 0.3))
    manifest = table.write_manifest(sorted(str(p) for p in same.glob("*.png")), tmp_path / "same.csv")
    rows = [
        table.Row("baseline", "real", manifest, str(real), "same kind", "ref"),
        table.Row("bad gan", "x", str(noisy), str(real), "noisy", "ref", downstream="x"),
        table.Row("absent", "y", None, str(real), "y samples", "ref", note="no weights"),
    ]
    table.score_rows(rows, {"rc": RandomConvExtractor(8, 32)}, tmp_path / "cache", kid_subset_size=10)
    assert rows[0].scores["rc"]["n_fake"] == 20 and rows[0].scores["rc"]["n_real"] == 20
    assert rows[0].scores["rc"]["fid"] < rows[1].scores["rc"]["fid"]
    assert rows[0].scores["rc"]["precision"] > rows[1].scores["rc"]["precision"]
    assert rows[2].scores == {}
    (tmp_path / "d.json").write_text(json.dumps(
        {"auc_difference": {"mean": -0.05, "n": 3, "ci": [-0.08, -0.02]}, "command": "eval_downstream.py"}))
    down = {"x": table.downstream_summary(tmp_path / "d.json")}
    text = table.markdown_table(rows, ["rc"], down).splitlines()
    assert len(text) == 2 + len(rows) and text[0].count("|") == text[2].count("|")
    assert f"{rows[1].scores['rc']['fid']:.1f}" in text[3] and "-0.050 [-0.080, -0.020]" in text[3]
    assert "**not available** (no weights)" in text[4]


def test_resize_to_folder_and_latent_samples(tmp_path):
    src = _write(tmp_path / "src", phantoms(2, size=48, seed=0))
    out = table.resize_to_folder(sorted(str(p) for p in src.glob("*.png")), tmp_path / "small", size=16)
    sizes = {Image.open(p).size for p in Path(out).glob("*.png")}
    assert sizes == {(16, 16)} and len(list(Path(out).glob("*.png"))) == 2
    table.make_latent("dcgan_xray", 3, tmp_path / "dcgan")  # the shipped generator
    assert {Image.open(p).size for p in (tmp_path / "dcgan").glob("*.png")} == {(64, 64)}
    assert len(list((tmp_path / "dcgan").glob("*.png"))) == 3
