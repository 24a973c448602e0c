from __future__ import annotations

from PIL import Image

from monai_gan_aug.metrics.utility.harness import summarise
from monai_gan_aug.metrics.utility.report import _plot_pil, _series, learning_curve_table, plot_learning_curves


def _result() -> dict:
    runs = [{"n": n, "arm": a, "seed": s, "scores": {"dice": 0.3 + 0.001 * n + d + 0.01 * s, "hd95": 20.0 - s}}
            for n in (25, 50) for a, d in (("real_only", 0.0), ("classical", 0.02)) for s in range(3)]
    return {"task": "segmentation", "primary": "dice", "metrics": ["dice", "hd95"],
            "higher_is_better": {"dice": True, "hd95": False},
            "summary": summarise(runs, ["dice", "hd95"], ["real_only", "classical"]),
            "settings": {"steps": 10, "seeds": [0, 1, 2]}}


def test_table_has_one_row_per_budget_and_arm_with_paired_differences():
    table = learning_curve_table(_result())
    lines = table.splitlines()
    assert lines[0].startswith("| N | arm | seeds | dice ↑ | Δdice vs real_only [95% CI] | hd95 ↓")
    assert len(lines) == 2 + 4
    assert "| 25 | real_only | 3 | 0.335 ± 0.010 | — |" in table
    assert "| 25 | classical | 3 | 0.355 ± 0.010 | +0.020 [+0.020, +0.020] |" in table


def test_plot_is_written_as_png(tmp_path):
    path = plot_learning_curves(_result(), tmp_path / "sub" / "curve.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 300
    pil = _plot_pil(_series(_result(), "dice"), tmp_path / "pil.png", "t", "dice")  # the no-matplotlib path
    with Image.open(pil) as im:
        assert im.format == "PNG"
