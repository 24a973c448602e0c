"""Tests of monai_gan_aug/data/covidqu.py: adult vs paediatric covidqu films."""

from __future__ import annotations

import pytest

from monai_gan_aug.data.covidqu import PAEDIATRIC_NORMAL_SOURCES, covidqu_population, select_population
from monai_gan_aug.errors import ConfigError

_SRC = "kagglehub/datasets/anasmohammedtahir/covidqu/versions/7/Infection Segmentation Data/Train/{}/images/{} ({}).png"


def _row(label: str, n: int) -> dict[str, str]:
    folder, stem = ("Normal", "Normal") if label == "normal" else ("COVID-19", "covid")
    return {"label": label, "source_path": _SRC.format(folder, stem, n), "file": f"{label}_{n}.png"}


def test_population_follows_the_paediatric_source_block():
    lo, hi = PAEDIATRIC_NORMAL_SOURCES
    assert covidqu_population(_row("normal", lo)) == covidqu_population(_row("normal", hi)) == "paediatric"
    assert covidqu_population(_row("normal", lo - 1)) == covidqu_population(_row("normal", hi + 1)) == "adult"
    assert covidqu_population(_row("normal", 614)) == "adult"
    assert covidqu_population(_row("covid", 11800)) == "adult"  # every COVID-19 film is an adult's
    assert covidqu_population({"label": "normal"}) == "adult"  # other datasets: no covidqu source path


def test_select_population():
    rows = [_row("normal", 700), _row("normal", 11800), _row("covid", 11800)]
    assert select_population(rows, "all") == rows
    assert select_population(rows, "adult") == [rows[0], rows[2]]
    assert select_population(rows, "paediatric") == [rows[1]]
    with pytest.raises(ConfigError):
        select_population(rows, "children")


def test_shared_covidqu_counts_when_present():
    import csv
    from pathlib import Path

    manifest = Path(__file__).resolve().parents[3] / "shared" / "data" / "covidqu" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip("shared data absent")
    rows = list(csv.DictReader(manifest.open(newline="")))
    paed = select_population(rows, "paediatric")
    # measured 2026-12-08: 171 paediatric normal films, all in the train split (val normals are adults)
    assert len(paed) == 171 and {r["split"] for r in paed} == {"train"}
    assert {r["label"] for r in paed} == {"normal"}
