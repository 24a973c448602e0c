"""Tests of monai_gan_aug/bundle_utils.py: domain selection with patient splits."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_gan_aug.bundle_utils import domain_items
from monai_gan_aug.data.splits import split_of_patient
from monai_gan_aug.errors import ConfigError, DatasetError


@pytest.fixture(scope="module")
def manifest_dir(tmp_path_factory) -> Path:
    """A manifest folder: 40 patients, two images each, half normal, half pneumonia."""
    root = tmp_path_factory.mktemp("manifest")
    (root / "images").mkdir()
    img = np.zeros((8, 8), np.uint8)
    rows = []
    for p in range(40):
        label = "normal" if p % 2 == 0 else "pneumonia"
        for k in range(2):
            name = f"images/p{p:02d}_{k}.png"
            Image.fromarray(img).save(root / name)
            rows.append({"file": name, "label": label, "patient": f"P{p:02d}"})
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "label", "patient"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def _patients(items: list[dict]) -> set[str]:
    return {Path(it["image"]).name.split("_")[0].upper() for it in items}


def test_split_keeps_only_that_splits_patients_and_all_keeps_everything(manifest_dir):
    everything = domain_items(str(manifest_dir), "normal", split="all")
    assert len(everything) == 40 and domain_items(str(manifest_dir), "normal") == everything  # None = all
    seen: set[str] = set()
    for name in ("train", "val", "test"):
        try:
            part = domain_items(str(manifest_dir), "normal", split=name)
        except DatasetError:  # a split may hold no normal patient with so few; then none is assigned to it
            assert all(split_of_patient(f"P{p:02d}") != name for p in range(0, 40, 2))
            continue
        pats = _patients(part)
        assert all(split_of_patient(p) == name for p in pats)
        assert not pats & seen  # no patient in two splits
        assert len(part) == 2 * len(pats)  # both images of a patient travel together
        seen |= pats
    assert seen == _patients(everything)


def test_max_items_is_applied_after_the_split(manifest_dir):
    train = domain_items(str(manifest_dir), "pneumonia", split="train")
    capped = domain_items(str(manifest_dir), "pneumonia", max_items=3, split="train")
    assert capped == train[:3]


def test_bad_split_is_a_config_error(manifest_dir):
    with pytest.raises(ConfigError, match="split"):
        domain_items(str(manifest_dir), "normal", split="training")


def test_warm_start_copies_weights_and_rejects_mismatch(tmp_path):
    """warm_start loads a saved generator into a fresh one; absent files and misfits fail clearly."""
    import torch

    from monai_gan_aug.bundle_utils import warm_start
    from monai_gan_aug.errors import MissingWeightsError
    from monai_gan_aug.networks.factory import build_network, save_network

    kwargs = {"ngf": 8, "n_res_blocks": 1, "num_classes": 2}
    torch.manual_seed(0)
    source = build_network("lesion_generator", **kwargs)
    save_network(source, "lesion_generator", kwargs, tmp_path / "g.pt")
    torch.manual_seed(1)
    target = build_network("lesion_generator", **kwargs)
    assert warm_start(target, None) is None
    assert warm_start(target, tmp_path / "g.pt") == str(tmp_path / "g.pt")
    for name, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[name]), name
    with pytest.raises(MissingWeightsError):
        warm_start(target, tmp_path / "absent.pt")
    wider = build_network("lesion_generator", **{**kwargs, "ngf": 16})
    with pytest.raises(ConfigError, match="do not fit"):
        warm_start(wider, tmp_path / "g.pt")


def test_executed_config_is_the_parsers_config_with_overrides():
    from monai.bundle import ConfigParser

    from monai_gan_aug.bundle_utils import executed_config

    parser = ConfigParser({"imports": ["$import monai_gan_aug.bundle_utils as bundle_utils"], "epochs": 8,
                           "double": "$@epochs * 2", "config": "$bundle_utils.executed_config()"})
    parser.update({"epochs": 2})  # what `--epochs 2` on the command line does
    config = parser.get_parsed_content("config")
    assert config["epochs"] == 2 and config["double"] == "$@epochs * 2"  # raw, with the override
    assert config is not parser.get()  # a copy: later changes to the parser do not leak into the log
    with pytest.raises(ConfigError, match="ConfigParser"):
        executed_config()


_RUN_ALIAS_PENDING: set[str] = set()  # configs allowed to lack the aliases (none today)


def test_every_bundle_config_accepts_run_and_its_named_id():
    bundles = Path(__file__).resolve().parents[1] / "bundles"
    checked = 0
    for config in sorted(bundles.glob("*/configs/*.json")):
        name = config.relative_to(bundles).as_posix()
        if config.name not in ("train.json", "train_opacity.json", "inference.json") or name in _RUN_ALIAS_PENDING:
            continue
        ids = set(json.loads(config.read_text()))
        named = "training" if config.name.startswith("train") else "inference"
        assert {"run", named} <= ids, f"{name} lacks 'run' or {named!r}"
        checked += 1
    assert checked >= 13


def test_a_bundle_run_failing_on_bad_input_ends_in_one_error_line(tmp_path):
    boxes = tmp_path / "boxes.csv"
    boxes.write_text('image,box\n/nonexistent/chest.png,"1,2,30,40"\n')
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", "--config_file",
         str(root / "bundles" / "lesion_inpaint" / "configs" / "inference.json"), "--box_csv", str(boxes),
         "--output_dir", str(tmp_path / "eval"), "--num_threads", "1",
         "--ckpt_path", str(root / "monai_gan_aug" / "weights" / "lesion_inpaint.pt")],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {boxes}: 1 image(s) do not exist, first: ['/nonexistent/chest.png']"
    )


def test_export_from_checkpoint_writes_a_loadable_network_with_the_run_s_progress(tmp_path):
    import torch

    from monai_gan_aug.bundle_utils import export_from_checkpoint
    from monai_gan_aug.errors import CheckpointError
    from monai_gan_aug.networks.factory import load_network, save_network
    from monai_gan_aug.networks.opacity_generator import LesionOpacityGenerator
    from monai_gan_aug.utils.checkpoint import save_checkpoint

    kwargs = {"features": [4, 4, 8, 8, 8, 4]}
    save_network(LesionOpacityGenerator(**kwargs), "lesion_opacity_generator", kwargs, tmp_path / "t.pt",
                 info={"window": 32, "epochs": 1})
    trained = LesionOpacityGenerator(**kwargs)
    save_checkpoint({"G": trained.state_dict(), "trainer": {"epoch_length": 250, "iteration": 1750}}, tmp_path / "ck.pt")
    out = export_from_checkpoint(tmp_path / "ck.pt", "G", tmp_path / "t.pt", tmp_path / "g.pt", {"minutes": 5})
    net = load_network(out)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), trained.state_dict().values()))
    assert net.info["epochs"] == 7 and net.info["iterations"] == 1750 and net.info["window"] == 32
    with pytest.raises(CheckpointError):
        export_from_checkpoint(tmp_path / "ck.pt", "D", tmp_path / "t.pt", tmp_path / "x.pt")
