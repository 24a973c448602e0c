"""``monai-gan-aug evaluate``: a table and JSON from two image folders, with real metric values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from monai_gan_aug.cli import main
from monai_gan_aug.metrics.evaluate import ALL_METRICS
from monai_gan_aug.cli.evaluate import _METRICS


def _folder(path, n, shift, seed):
    path.mkdir()
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    for i in range(n):
        img = 0.5 + 0.3 * np.sin((xx + rng.integers(0, 32)) / 5.0) * np.cos(yy / 7.0) + shift
        img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(path / f"{i}.png")
    return path


def test_evaluate_prints_table_and_writes_json(tmp_path, capsys):
    real = _folder(tmp_path / "real", 12, 0.0, 0)
    same = _folder(tmp_path / "same", 12, 0.0, 1)
    shifted = _folder(tmp_path / "shifted", 12, 0.3, 2)
    out_same, out_shift = tmp_path / "same.json", tmp_path / "shift.json"
    for fake, out in ((same, out_same), (shifted, out_shift)):
        code = main(["evaluate", "--real", str(real), "--fake", str(fake), "--extractor", "random_conv",
                     "--metrics", "fid", "kid", "--json", str(out), "--no-cache"])
        assert code == 0
    printed = capsys.readouterr().out
    assert "FID" in printed and "KID" in printed
    a, b = json.loads(out_same.read_text()), json.loads(out_shift.read_text())
    assert a["n_real"] == a["n_fake"] == 12
    assert b["fid"] > a["fid"] and b["kid"] > a["kid"]


def test_cli_metric_choices_match_the_library():
    assert tuple(_METRICS) == tuple(ALL_METRICS)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_max_images_below_one_is_refused(tmp_path, capsys, value):
    real = _folder(tmp_path / "real", 2, 0.0, 0)
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--real", str(real), "--fake", str(real), "--max-images", value])
    assert exc.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--max-images" in errors[0]


def test_json_output_is_checked_before_the_computation(tmp_path, capsys):
    real = _folder(tmp_path / "real", 2, 0.0, 0)
    existing = tmp_path / "result.json"
    existing.write_text('{"kept": true}')
    base = ["evaluate", "--real", str(real), "--fake", str(real), "--extractor", "random_conv", "--no-cache"]
    assert main(base + ["--json", str(existing)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("monai-gan-aug evaluate: error: --json") and "--overwrite" in lines[0]
    assert existing.read_text() == '{"kept": true}'
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(base + ["--json", str(blocker / "r.json")]) == 2
    assert "is a file" in capsys.readouterr().err
