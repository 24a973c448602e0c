"""``prepare_dataset`` on a tiny Kaggle-layout folder with planted duplicates and small images."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from monai_gan_aug.data.prepare import STATE_DIR, PrepareOptions, prepare_dataset
from monai_gan_aug.errors import ConfigError
from tests.data._planted import MIN_SIZE, build_planted_kaggle


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("kaggle") / "chest_xray"
    return root, build_planted_kaggle(root)


def _tree_hash(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()} | {
        "__dirs__": ",".join(sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()))}


def _manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_reports_and_removes_exactly_the_planted_cases(planted, tmp_path):
    root, rel = planted
    before = _tree_hash(root)
    out = tmp_path / "prepared"
    result = prepare_dataset(root, out, PrepareOptions(min_size=MIN_SIZE), progress=False)
    assert _tree_hash(root) == before  # the input is never touched

    c = result.counts
    assert (c["read"], c["too_small"], c["exact_duplicates"], c["near_duplicates"]) == (23, 2, 2, 2)
    assert (c["conflict_groups"], c["conflict_images"], c["written"]) == (1, 2, 15)
    assert {r["source_path"] for r in result.too_small} == rel["small"]
    dropped = {m["source_path"]: m for g in result.groups for m in g["members"] if m["action"] == "drop"}
    assert {p for p, m in dropped.items() if m["kind"] == "exact" and p not in rel["conflict"]} == rel["exact"]
    assert {p for p, m in dropped.items() if m["kind"] == "near"} == rel["near"]
    assert {p for g in result.groups if g["conflict"] for p in (m["source_path"] for m in g["members"])} == rel["conflict"]

    rows = _manifest(out)
    expected = rel["all"] - rel["small"] - rel["exact"] - rel["near"] - rel["conflict"]
    assert {r["source_path"] for r in rows} == expected
    assert "train/PNEUMONIA/person9002_virus_1.png" in expected  # the train copy wins over the val original
    for r in rows:  # files exist, 8-bit in -> 8-bit out, splits from the patient
        assert (out / r["file"]).is_file() and r["split"] in ("train", "val", "test")
        assert r["label"] in ("normal", "pneumonia") and r["source_split"] in ("train", "val", "test")
    from PIL import Image

    with Image.open(out / rows[0]["file"]) as im:
        assert im.mode == "L"
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == c and report["layout"] == "folders"
    with open(out / "duplicates.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2 * 5  # five groups of two


def test_group_policy_keeps_all_and_a_group_never_straddles_splits(planted, tmp_path):
    root, rel = planted
    result = prepare_dataset(root, tmp_path / "g", PrepareOptions(min_size=MIN_SIZE, duplicates="group"),
                             progress=False)
    assert result.counts["written"] == 21 and result.counts["dropped_duplicates"] == 0
    splits: dict[str, set[str]] = {}
    for row in result.rows:
        if row["dup_group"]:
            splits.setdefault(row["dup_group"], set()).add(row["split"])
    assert len(splits) == 5 and all(len(s) == 1 for s in splits.values())


def test_resume_after_a_kill_gives_the_same_output(planted, tmp_path):
    root, _ = planted
    options = PrepareOptions(min_size=MIN_SIZE)
    reference = prepare_dataset(root, tmp_path / "ref", options, progress=False)

    out = tmp_path / "killed"

    def kill_after_five(n: int) -> None:
        if n == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(root, out, options, progress=False, on_item=kill_after_five)
    assert not (out / "manifest.csv").exists()
    written = sorted((out / "images").rglob("*.png"))
    assert len(written) == 5
    # a torn write of a killed process (its temp file) and a damaged earlier output
    stale = written[0].parent / f".{written[0].stem}.{'0' * 8}-999999-abcdefgh.tmp.png"
    stale.write_bytes(b"\x89PNG half")
    os.utime(stale, (0, 0))  # older than a day: stale whatever its host
    written[1].write_bytes(b"garbage")
    with open(out / STATE_DIR / "done.jsonl", "a") as fh:
        fh.write('{"torn line')  # killed while journalling

    with pytest.raises(ConfigError, match="--resume"):
        prepare_dataset(root, out, options, progress=False)  # not empty: needs --resume or --overwrite
    result = prepare_dataset(root, out, options, resume=True, progress=False)
    assert result.counts["already_done"] == 4 and result.counts["written"] == 15
    assert result.rows == reference.rows
    assert not stale.exists()
    ref_files = {p.relative_to(tmp_path / "ref").as_posix(): p.read_bytes() for p in (tmp_path / "ref").rglob("*.png")}
    out_files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.png")}
    assert out_files == ref_files

    with pytest.raises(ConfigError, match="--resume"):
        prepare_dataset(root, out, PrepareOptions(min_size=0), resume=True, progress=False)
    again = prepare_dataset(root, out, PrepareOptions(min_size=0), overwrite=True, progress=False)
    assert again.counts["written"] == 17 and again.counts["too_small"] == 0


def test_output_inside_the_input_is_refused(planted):
    root, _ = planted
    before = _tree_hash(root)
    with pytest.raises(ConfigError, match="inside the input"):
        prepare_dataset(root, root / "prepared", PrepareOptions(min_size=MIN_SIZE), progress=False)
    with pytest.raises(ConfigError, match="contains the input"):
        prepare_dataset(root, root.parent, PrepareOptions(min_size=MIN_SIZE), progress=False)
    assert _tree_hash(root) == before
