"""Prepare a chest X-ray data set in one step: the first seed's preprocessing, made repeatable.

:func:`prepare_dataset` reads any layout :func:`~monai_gan_aug.data.layouts.discover_layout`
knows (class folders with train/val/test, manifests, RSNA/NIH/SIIM label files), merges the
source splits, and then:

1. **reads** every image once (:class:`~monai_gan_aug.transforms.io.LoadXRay`) and fingerprints it
   (:class:`~monai_gan_aug.transforms.image_hash.PerceptualHash`); unreadable files are skipped and
   reported;
2. **drops images too small** (shorter side below ``min_size`` px; before duplicate finding, so a
   shrunken copy is reported as too small, not as a duplicate);
3. **finds exact and near duplicates** across splits and classes
   (:func:`~monai_gan_aug.data.dedup.duplicate_groups`) and applies the policy ``drop`` / ``report``
   / ``group`` (:func:`~monai_gan_aug.data.dedup.resolve_duplicates`); cross-class duplicates are
   conflicts;
4. optionally **removes burned-in text** (:class:`~monai_gan_aug.transforms.text.RemoveBurnedInText`)
   and writes **lung masks** (the source's own mask if it has one of the right size, else
   :class:`~monai_gan_aug.transforms.lung.LungMask` with the shipped weights);
5. **writes** ``images/<label>/<name>.png`` (8-bit sources stay 8-bit, deeper ones 16-bit; or DICOM
   kept as DICOM with ``output_format="keep"``), ``manifest.csv`` with a new patient-level split
   (:func:`~monai_gan_aug.data.splits.split_of_patient`; patients linked by a kept duplicate group
   share a split), ``duplicates.csv`` and ``report.json``.

Resumable: fingerprints are cached in ``<out>/.prepare/scan.jsonl`` and every written item is
journalled (with its output's SHA-256) in ``<out>/.prepare/done.jsonl`` after its files are
renamed into place; a re-run with ``resume=True`` and the same options skips every item whose
files still match the journal. Each file is written to a temporary name and renamed, so a killed
run never leaves a half-written image. The input is only read: an output folder inside the
input (or containing it) is refused.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MonaiGanAugError
from .datasets import _stem
from .dedup import DEFAULT_NEAR_THRESHOLD, POLICIES, duplicate_groups, resolve_duplicates
from .layouts import discover_layout
from .splits import SPLIT_NAMES, split_of_patient

__all__ = [
    "MANIFEST_COLUMNS",
    "DUPLICATE_COLUMNS",
    "OUTPUT_FORMATS",
    "STATE_DIR",
    "PrepareOptions",
    "PrepareResult",
    "prepare_dataset",
    "summary_table",
]

MANIFEST_COLUMNS = (
    "file", "label", "class_index", "patient", "split", "mask_file", "source_path", "source_split",
    "height", "width", "dup_group", "dup_kind", "text_removed_px", "sha256", "phash",
)  # fmt: skip
DUPLICATE_COLUMNS = ("group", "conflict", "kind", "action", "label", "source_split", "source_path", "height", "width",
                     "sha256", "phash")
OUTPUT_FORMATS = ("png", "keep")
STATE_DIR = ".prepare"
_OWN_FILES = ("manifest.csv", "duplicates.csv", "report.json")
_SCAN_VERSION = 1


@dataclass(frozen=True)
class PrepareOptions:
    """Everything that decides the output (a resumed run must use the same).

    Attributes:
        min_size: minimum shorter side in pixels (0 keeps every size).
        duplicates: policy, one of :data:`~monai_gan_aug.data.dedup.POLICIES`.
        near_threshold: Hamming distance (bits of the 256-bit pHash) of a near duplicate;
            ``None`` finds exact duplicates only.
        remove_text: ``None`` or a :data:`~monai_gan_aug.transforms.text.METHODS` entry.
        lung_masks: write a lung mask per image.
        output_format: ``"png"`` or ``"keep"`` (DICOM stays DICOM, others become PNG).
        fractions: train, val, test fractions of the patient-level split.
        seed: seed of the split.
    """

    min_size: int = 256
    duplicates: str = "drop"
    near_threshold: int | None = DEFAULT_NEAR_THRESHOLD
    remove_text: str | None = None
    lung_masks: bool = False
    output_format: str = "png"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`ConfigError` for values out of range."""
        from ..transforms.text import METHODS

        if self.min_size < 0:
            raise ConfigError(f"min_size must be >= 0 pixels, found {self.min_size}")
        if self.duplicates not in POLICIES:
            raise ConfigError(f"duplicates must be one of {POLICIES}, found {self.duplicates!r}")
        if self.near_threshold is not None and self.near_threshold < 0:
            raise ConfigError(f"near_threshold must be >= 0 bits, found {self.near_threshold}")
        if self.remove_text is not None and self.remove_text not in METHODS:
            raise ConfigError(f"remove_text must be one of {METHODS} or None, found {self.remove_text!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(f"output_format must be one of {OUTPUT_FORMATS}, found {self.output_format!r}")
        f = tuple(float(x) for x in self.fractions)
        if len(f) != 3 or any(x < 0 for x in f) or abs(sum(f) - 1) > 1e-6:
            raise ConfigError(f"split fractions must be three numbers >= 0 summing to 1, found {self.fractions}")


@dataclass
class PrepareResult:
    """What a run did: the counts of the summary table, the manifest rows, and the lists behind them."""

    counts: dict[str, int]
    rows: list[dict[str, Any]]
    per_split_class: dict[str, dict[str, int]]
    too_small: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    layout: str = ""


# ---------------------------------------------------------------- folders and state


def _inside(a: Path, b: Path) -> bool:
    """``a`` is ``b`` or below it (resolved)."""
    a, b = Path(os.path.realpath(a)), Path(os.path.realpath(b))
    return a == b or b in a.parents


def check_out_folder(out: Path, input_root: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an output folder inside/around the input, or a non-empty one without resume/overwrite."""
    if _inside(out, input_root):
        raise ConfigError(f"--out {out} is inside the input folder {input_root}; the input is never written to, "
                          "choose an output folder outside it")
    if _inside(input_root, out):
        raise ConfigError(f"--out {out} contains the input folder {input_root}; choose an output folder beside it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; expected a folder")
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other; pass one")
    non_empty = out.is_dir() and any(out.iterdir())
    if resume:
        if not (out / STATE_DIR / "options.json").is_file():
            raise ConfigError(f"--resume: {out} holds no interrupted prepare run ({STATE_DIR}/options.json missing)")
    elif non_empty and not overwrite:
        raise ConfigError(f"--out {out} exists and is not empty; pass --resume to continue an interrupted run "
                          "or --overwrite to replace its prepared files")


def _options_record(options: PrepareOptions, input_path: Path) -> dict[str, Any]:
    return {"input": os.path.realpath(input_path), "options": {**asdict(options), "fractions": list(options.fractions)}}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """Lines of a journal; a torn last line (killed mid-write) is ignored."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class _Journal:
    """Append-only JSON-lines file, flushed per line (a killed process loses nothing; a lost line after a
    power cut only costs redoing that item, since resumed items are verified by content)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a torn last line would glue onto the next record: start on a fresh line
        if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with open(path, "ab") as fh:
                fh.write(b"\n")
        self.fh = open(path, "a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        self.fh.write(json.dumps(record, sort_keys=True) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def _remove_previous(out: Path) -> None:
    """``overwrite``: delete the files an earlier prepare run recorded writing (nothing else)."""
    state = out / STATE_DIR
    for record in _jsonl(state / "done.jsonl"):
        for rel in filter(None, (record.get("file"), record.get("mask_file"))):
            target = out / rel
            if _inside(target, out) and target.is_file():
                target.unlink()
    for name in _OWN_FILES:
        (out / name).unlink(missing_ok=True)
    if state.is_dir():
        shutil.rmtree(state)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- scan


def _scan(items: list[dict[str, Any]], state: Path, progress: bool | None) -> tuple[list[dict], list[dict]]:
    """Load and fingerprint every item (cached by path, size and mtime); return (ok, unreadable)."""
    from tqdm import tqdm

    from ..errors import ImageReadError, InvalidImageError
    from ..transforms.image_hash import PerceptualHash
    from ..transforms.io import LoadXRay

    cache: dict[str, dict[str, Any]] = {}
    for rec in _jsonl(state / "scan.jsonl"):
        if rec.get("v") == _SCAN_VERSION:
            cache[rec["key"]] = rec
    journal = _Journal(state / "scan.jsonl")
    loader, hasher = LoadXRay(), PerceptualHash(("sha256", "phash"))
    ok, bad = [], []
    try:
        for item in tqdm(items, desc="reading", unit="image", disable=None if progress is None else not progress):
            st = os.stat(item["image"])
            key = f"{item['image']}|{st.st_size}|{st.st_mtime_ns}"
            rec = cache.get(key)
            if rec is None:
                try:
                    img = loader(item["image"])
                    rec = {"v": _SCAN_VERSION, "key": key, **hasher(img), "bits": int(img.meta.get("bits_stored", 8)),
                           "format": str(img.meta.get("source_format", ""))}
                except (ImageReadError, InvalidImageError) as exc:
                    rec = {"v": _SCAN_VERSION, "key": key, "error": " ".join(str(exc).split())}
                journal.write(rec)
            if "error" in rec:
                bad.append({"source_path": item["source_path"], "error": rec["error"]})
                continue
            ok.append({**item, **{k: rec[k] for k in ("sha256", "phash", "height", "width", "bits", "format")}})
    finally:
        journal.close()
    return ok, bad


# ---------------------------------------------------------------- plan


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "unlabelled"


def _name_outputs(items: list[dict[str, Any]], options: PrepareOptions, lung: bool) -> None:
    """``file`` (and ``mask_file``) relative to the output folder; collisions get a path hash suffix."""
    def base(it: dict[str, Any]) -> str:
        return f"{_safe(str(it['label']))}/{_safe(_stem(Path(it['source_path'])))}"

    counts = Counter(base(it) for it in items)
    for it in items:
        name = base(it)
        if counts[name] > 1:
            name += "-" + hashlib.sha1(it["source_path"].encode()).hexdigest()[:8]
        ext = ".dcm" if options.output_format == "keep" and it["format"] == "dicom" else ".png"
        it["file"] = f"images/{name}{ext}"
        it["mask_file"] = f"masks/{name}.png" if lung else ""


def _assign_splits(items: list[dict[str, Any]], options: PrepareOptions) -> None:
    """Patient-level split; patients sharing a kept duplicate group are one unit (no leak)."""
    parent: dict[str, str] = {}

    def find(p: str) -> str:
        while parent.setdefault(p, p) != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    by_group: dict[int, str] = {}
    for it in items:
        it["patient"] = str(it.get("patient") or _stem(Path(it["source_path"])))
        find(it["patient"])
        if it["dup_group"]:
            other = by_group.setdefault(it["dup_group"], it["patient"])
            a, b = find(other), find(it["patient"])
            if a != b:
                parent[max(a, b)] = min(a, b)
    for it in items:
        it["split"] = split_of_patient(find(it["patient"]), options.fractions, options.seed)


def _plan(scanned: list[dict[str, Any]], options: PrepareOptions) -> tuple[list[dict], list[dict], list[dict], list]:
    """(items to write, too-small records, every item after the dup policy, groups)."""
    from ..transforms.min_size import is_too_small

    small = [it for it in scanned if is_too_small((it["height"], it["width"]), options.min_size)]
    sized = [it for it in scanned if not is_too_small((it["height"], it["width"]), options.min_size)]
    groups = duplicate_groups(sized, options.near_threshold)
    resolved = resolve_duplicates(sized, groups, options.duplicates)
    keep = [it for it in resolved if it["dup_action"] == "keep"]
    keep.sort(key=lambda it: it["source_path"])
    _name_outputs(keep, options, options.lung_masks)
    _assign_splits(keep, options)
    too_small = [{"source_path": it["source_path"], "label": it["label"], "height": it["height"], "width": it["width"]}
                 for it in small]
    return keep, too_small, resolved, groups


# ---------------------------------------------------------------- write


class _Writer:
    """Writes one planned item (image, optional mask) atomically; knows the loaded tools."""

    def __init__(self, out: Path, options: PrepareOptions) -> None:
        from ..transforms.io import LoadXRay

        self.out, self.options = out, options
        self.loader = LoadXRay()
        self.text = None
        self.lung = None
        if options.remove_text:
            from ..transforms.text import RemoveBurnedInText

            self.text = RemoveBurnedInText(options.remove_text)
        if options.lung_masks:
            from ..transforms.lung import LungMask

            self.lung = LungMask()

    def _source_mask(self, item: Mapping[str, Any], hw: tuple[int, int]) -> Any:
        import numpy as np
        from PIL import Image

        path = item.get("lung_mask")
        if not path or not os.path.isfile(path):
            return None
        try:
            with Image.open(path) as im:
                mask = np.asarray(im.convert("L")) > 0
        except (OSError, ValueError):
            return None
        return mask if mask.shape == hw and mask.any() else None

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        import numpy as np
        from PIL import Image

        from ..transforms.io import SaveXRay
        from ..utils.atomic import atomic_write

        img = self.loader(item["image"])
        hw = tuple(int(s) for s in img.shape[-2:])
        mask = None
        if self.lung is not None or self.text is not None:
            mask = self._source_mask(item, hw)
            if mask is None and self.lung is not None:
                mask = self.lung(img)[0].numpy() > 0.5
        removed = 0
        steps = []
        if self.text is not None:
            img, text_mask = self.text(img, lung=None if mask is None else mask[None].astype(np.float32))
            removed = int(text_mask.sum())
            steps.append(f"burned-in text removed ({self.options.remove_text}, {removed} px)")
        record = {"source": item["image"], "file": item["file"], "mask_file": item["mask_file"]}
        if item["mask_file"]:
            with atomic_write(self.out / item["mask_file"], suffix=".png") as tmp:
                Image.fromarray((mask.astype(np.uint8) * 255)).save(tmp, format="PNG")
            record["mask_sha256"] = _sha256_file(self.out / item["mask_file"])
        target = self.out / item["file"]
        if target.suffix == ".dcm" and removed == 0:  # DICOM kept as it is, byte for byte
            with atomic_write(target) as tmp:
                shutil.copyfile(item["image"], tmp)
        else:
            bits = 8 if item.get("bits", 8) <= 8 else 16
            text = f"prepared from {item['source_path']}" + (f"; {'; '.join(steps)}" if steps else "")
            SaveXRay(png_bits=bits, overwrite=True, synthetic=False, description=text)(img, target)
        record["sha256"] = _sha256_file(target)
        item["text_removed_px"] = removed if self.text is not None else ""
        record["text_removed_px"] = item["text_removed_px"]
        return record


def _verified(record: Mapping[str, Any] | None, item: Mapping[str, Any], out: Path) -> bool:
    """The journal says ``item`` was written and its files still have the recorded content."""
    if record is None or record.get("source") != item["image"] or record.get("file") != item["file"]:
        return False
    if record.get("mask_file", "") != item["mask_file"]:
        return False
    target = out / item["file"]
    if not target.is_file() or _sha256_file(target) != record.get("sha256"):
        return False
    if item["mask_file"]:
        mask = out / item["mask_file"]
        return mask.is_file() and _sha256_file(mask) == record.get("mask_sha256")
    return True


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    from ..utils.atomic import atomic_write

    with atomic_write(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------- report


def _counts(layout_items: int, missing: int, scanned: list, bad: list, small: list, resolved: list,
            groups: list, written: int, resumed: int) -> dict[str, int]:
    members = [it for it in resolved if it["dup_group"]]
    conflict_groups = [g for g in groups if g.conflict]
    return {
        "listed": layout_items + missing,
        "missing": missing,
        "read": len(scanned),
        "unreadable": len(bad),
        "too_small": len(small),
        "duplicate_groups": len(groups) - len(conflict_groups),
        "exact_duplicates": sum(1 for it in members if it["dup_kind"] == "exact"),
        "near_duplicates": sum(1 for it in members if it["dup_kind"] == "near"),
        "conflict_groups": len(conflict_groups),
        "conflict_images": sum(len(g.members) for g in conflict_groups),
        "dropped_duplicates": sum(1 for it in resolved if it["dup_action"] == "drop"),
        "written": written,
        "already_done": resumed,
    }


def _group_records(resolved: list[dict[str, Any]], groups: list) -> list[dict[str, Any]]:
    out = []
    for g in groups:
        out.append({
            "group": g.group_id, "conflict": g.conflict, "labels": g.labels,
            "members": [{"source_path": resolved[i]["source_path"], "label": resolved[i]["label"],
                         "source_split": resolved[i].get("source_split", ""), "kind": g.kinds[i],
                         "action": resolved[i]["dup_action"]} for i in g.members],
        })
    return out


def summary_table(result: PrepareResult, options: PrepareOptions) -> str:
    """The summary printed at the end of a run (plain text, aligned)."""
    c = result.counts
    drop = options.duplicates == "drop"
    lines = [
        f"prepare summary ({result.layout} layout; duplicates: {options.duplicates})",
        f"  {'listed':<34}{c['listed']:>7}" + (f"   ({c['missing']} not on disk)" if c["missing"] else ""),
        f"  {'read':<34}{c['read']:>7}",
        f"  {'unreadable (skipped)':<34}{c['unreadable']:>7}",
        f"  {f'too small (< {options.min_size} px short side)':<34}{c['too_small']:>7}   dropped",
        f"  {'exact duplicates':<34}{c['exact_duplicates']:>7}   {'dropped' if drop else 'kept'}",
        f"  {'near duplicates':<34}{c['near_duplicates']:>7}   {'dropped' if drop else 'kept'}"
        + (f" (pHash <= {options.near_threshold} bits)" if options.near_threshold is not None else " (not searched)"),
        f"  {'cross-class conflicts (images)':<34}{c['conflict_images']:>7}   "
        f"{'dropped' if drop else 'kept'} ({c['conflict_groups']} group(s))",
        f"  {'written':<34}{c['written']:>7}" + (f"   ({c['already_done']} already done)" if c["already_done"] else ""),
    ]
    classes = sorted({k for per in result.per_split_class.values() for k in per})
    width = max([7, *(len(k) + 2 for k in classes)])
    lines.append("")
    lines.append(f"  {'split':<8}" + "".join(f"{k:>{width}}" for k in classes) + f"{'total':>{width}}")
    for split in SPLIT_NAMES:
        per = result.per_split_class.get(split, {})
        lines.append(f"  {split:<8}" + "".join(f"{per.get(k, 0):>{width}}" for k in classes)
                     + f"{sum(per.values()):>{width}}")
    return "\n".join(lines)


# ---------------------------------------------------------------- entry point


def prepare_dataset(
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    options: PrepareOptions | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    on_item: Callable[[int], None] | None = None,
) -> PrepareResult:
    """Run the whole preparation (see the module docstring) and write ``out``.

    Args:
        input_path: data set folder or label CSV (never written to).
        out: output folder: new, empty, or (``resume``) an interrupted run's.
        options: what to do; defaults of :class:`PrepareOptions`.
        resume: continue an interrupted run (same input and options), skipping verified items.
        overwrite: replace the files of an earlier run in ``out`` (only those it recorded).
        progress: progress bars (``None``: only on a terminal).
        on_item: called with the number of items written so far after each one (tests use it to
            simulate a kill).

    Returns:
        The :class:`PrepareResult`, also saved as ``report.json``.

    Raises:
        ConfigError: bad options, an output folder inside the input, a non-empty output folder
            without ``resume``/``overwrite``, or a resume with other options.
        DatasetError: an unknown layout or no image found.
    """
    from tqdm import tqdm

    from ..utils.atomic import atomic_write_bytes

    options = options or PrepareOptions()
    options.check()
    input_path, out = Path(input_path), Path(out)
    if not input_path.exists():
        from ..errors import DatasetError

        raise DatasetError(f"--input {input_path} does not exist")
    input_root = input_path if input_path.is_dir() else input_path.parent
    check_out_folder(out, input_root, resume, overwrite)
    state = out / STATE_DIR
    record = _options_record(options, input_path)
    if resume:
        previous = json.loads((state / "options.json").read_text())
        if previous != record:
            raise ConfigError(f"--resume: {out} was prepared from {previous.get('input')} with options "
                              f"{previous.get('options')}; this run asks for {record['options']} from "
                              f"{record['input']}. Use the same ones, or --overwrite to start over")
    elif overwrite:
        _remove_previous(out)
    layout = discover_layout(input_path)
    state.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(state / "options.json", json.dumps(record, indent=1, sort_keys=True).encode())

    if resume:  # temp files of the killed run (this process has not written there yet)
        from ..utils.atomic import clean_stale_temp_files

        for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
            clean_stale_temp_files(folder)
    scanned, bad = _scan(layout.items, state, progress)
    keep, small, resolved, groups = _plan(scanned, options)
    done = {r["file"]: r for r in _jsonl(state / "done.jsonl")} if resume else {}
    journal = _Journal(state / "done.jsonl")
    writer = _Writer(out, options)
    written = resumed = 0
    try:
        for item in tqdm(keep, desc="writing", unit="image", disable=None if progress is None else not progress):
            previous_record = done.get(item["file"])
            if _verified(previous_record, item, out):
                item["text_removed_px"] = previous_record.get("text_removed_px", "")
                resumed += 1
            else:
                try:
                    journal.write(writer(item) | {"v": _SCAN_VERSION})
                except MonaiGanAugError as exc:
                    raise type(exc)(f"{item['source_path']}: {exc}") from exc
                written += 1
            if on_item is not None:
                on_item(written + resumed)
    finally:
        journal.close()

    per: dict[str, dict[str, int]] = {s: {} for s in SPLIT_NAMES}
    for it in keep:
        per[it["split"]][it["label"]] = per[it["split"]].get(it["label"], 0) + 1
    result = PrepareResult(
        counts=_counts(len(layout.items), len(layout.missing), scanned, bad, small, resolved, groups,
                       written + resumed, resumed),
        rows=[{k: it.get(k, "") for k in MANIFEST_COLUMNS} for it in keep],
        per_split_class=per, too_small=small, unreadable=bad, missing=layout.missing,
        groups=_group_records(resolved, groups), layout=layout.name,
    )
    _write_csv(out / "manifest.csv", MANIFEST_COLUMNS, result.rows)
    dup_rows = [{**m, "group": g["group"], "conflict": g["conflict"],
                 **{k: resolved_by_path[m["source_path"]][k] for k in ("height", "width", "sha256", "phash")}}
                for resolved_by_path in [{it["source_path"]: it for it in resolved}]
                for g in result.groups for m in g["members"]]
    _write_csv(out / "duplicates.csv", DUPLICATE_COLUMNS, dup_rows)
    report = {"input": record["input"], "options": record["options"], "layout": layout.name, "counts": result.counts,
              "per_split_class": per, "too_small": small, "unreadable": bad, "missing": layout.missing,
              "duplicate_groups": result.groups}
    atomic_write_bytes(out / "report.json", json.dumps(report, indent=1).encode())
    return result
