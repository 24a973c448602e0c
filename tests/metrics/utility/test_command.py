"""``monai-gan-aug utility`` end to end on a tiny fake covidqu folder (the verb lives in monai_gan_aug/cli/utility.py)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from monai_gan_aug.cli import VERB_MODULES, main
from monai_gan_aug.cli.utility import held_out_subset


def _fake_covidqu(root, n_per_split: int = 8) -> None:
    rng = np.random.default_rng(0)
    for sub in ("images", "masks", "masks_lesion"):
        (root / sub).mkdir(parents=True)
    rows = ["file,label,patient,mask_file,lesion_mask_file,bbox,split"]
    yy, xx = np.mgrid[:48, :48]
    for split in ("train", "val"):
        for k in range(n_per_split):
            covid = k % 2 == 0
            name = f"{split}_{k}"
            img = (60 + 10 * rng.standard_normal((48, 48))).clip(0, 255)
            lesion = np.zeros((48, 48), bool)
            if covid:
                lesion = (yy - 24) ** 2 + (xx - 15) ** 2 <= 49
                img[lesion] = 200
            lung = np.zeros((48, 48), np.uint8)
            lung[4:44, 4:44] = 255
            Image.fromarray(img.astype(np.uint8)).save(root / "images" / f"{name}.png")
            Image.fromarray(lung).save(root / "masks" / f"{name}.png")
            Image.fromarray((lesion * 255).astype(np.uint8)).save(root / "masks_lesion" / f"{name}.png")
            bbox = "6 15 24 33" if covid else ""
            rows.append(f"images/{name}.png,{'covid' if covid else 'normal'},{name},masks/{name}.png,"
                        f"masks_lesion/{name}.png,{bbox},{split}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")


def test_utility_verb_writes_table_plot_and_json(tmp_path, capsys):
    assert "utility" in VERB_MODULES
    data, out = tmp_path / "covidqu", tmp_path / "out"
    _fake_covidqu(data)
    rc = main(["utility", "--data", str(data), "--quick", "--task", "segmentation", "classification",
               "--arms", "real_only", "classical", "opacity_baseline", "--out", str(out)], lean=False)
    assert rc == 0
    for task in ("segmentation", "classification"):
        result = json.loads((out / f"{task}.json").read_text())
        assert {r["steps"] for r in result["runs"]} == {6}
        assert len(result["runs"]) == 2 * 3  # 2 seeds x 3 arms at the quick budget
        assert result["settings"]["size"] == 64 and result["settings"]["quick"] is True
        assert (out / f"{task}.png").stat().st_size > 0
        assert "| 4 | opacity_baseline | 2 |" in (out / f"{task}.md").read_text()


def test_missing_data_is_one_error_line(tmp_path, capsys):
    rc = main(["utility", "--data", str(tmp_path / "none"), "--quick", "--out", str(tmp_path / "o")], lean=False)
    assert rc == 2
    assert "monai-gan-aug utility: error:" in capsys.readouterr().err


def test_held_out_subset_is_fixed_and_stratified():
    items = [{"cls": int(i < 30)} for i in range(50)]
    sub = held_out_subset(items, 10)
    assert len(sub) == 10 and sum(d["cls"] for d in sub) == 6
    assert sub == held_out_subset(items, 10) and held_out_subset(items, None) == items


def test_later_seeds_can_be_added_in_a_second_run():
    from monai_gan_aug.cli import build_parser

    args = build_parser().parse_args(["utility", "--seeds", "2", "--seed-start", "3", "--out", "x"])
    assert (args.seeds, args.seed_start) == (2, 3)
    assert build_parser().parse_args(["utility", "--out", "x"]).seed_start == 0
