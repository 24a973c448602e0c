"""Score the shipped CycleGAN generators on held-out Kermany patients.

What it measures, on the patient ``test`` split (:func:`monai_gan_aug.data.splits.patient_split`,
the patients the generators and the pneumonia judge never saw in training):

* **Judge shift**: the pneumonia judge's mean probability on the real normal test images before and
  after ``G_AB`` (healthy -> pneumonia), and the mean paired shift with a percentile bootstrap CI;
  the same for real pneumonia test images through ``G_BA`` (pneumonia -> healthy), and as a control
  for normals through ``G_BA`` (which should leave them normal: a rise there would show the judge
  reacting to generator artefacts rather than to pneumonia-like content).
* **FID / KID** of translated normals against the real test pneumonia images, next to the same
  numbers for the untranslated normals (the distance the translation has to close), with the chest
  X-ray judge's features and optionally the TF-FID Inception features. The sets are small (tens of
  images), so FID is biased upwards: compare the rows with each other, not with published FIDs; KID
  is unbiased.
* A sample grid: rows of input, ``G_AB`` output and the change (grey = none, bright = added density).

Images are translated at their stored resolution with
:class:`monai_gan_aug.inferers.translation.TranslationInferer` (detail-preserving, at the generator's
training size), as the bundle's inference does.

Run: ``python scripts/eval_cyclegan.py --dataset_dir ../shared/data/kermany --inception
--grid docs/images/cyclegan_samples.png --json /tmp/cyclegan_eval.json``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from monai_gan_aug.bundle_utils import domain_items
from monai_gan_aug.inferers.translation import TranslationInferer
from monai_gan_aug.metrics.extractors import FeatureExtractor, InceptionV3Extractor, JudgeExtractor
from monai_gan_aug.metrics.fid import fid_from_features
from monai_gan_aug.metrics.kid import kid_from_features
from monai_gan_aug.networks.classifier import load_pneumonia_judge, pneumonia_probability
from monai_gan_aug.networks.factory import load_network
from monai_gan_aug.transforms.io import LoadXRay
from monai_gan_aug.utils.weights import shipped_weights_path

__all__ = ["bootstrap_mean_ci", "load_images", "translate", "judge_probabilities", "distances", "save_grid"]


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 5000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile bootstrap ``1 - alpha`` interval."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    return float(values.mean()), float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def load_images(items: Sequence[dict]) -> list[torch.Tensor]:
    """``(1, H, W)`` float images in ``[0, 1]`` (plain tensors) of ``[{"image": path}]`` items."""
    loader = LoadXRay()
    return [torch.as_tensor(loader(it["image"])).float() for it in items]


@torch.no_grad()
def translate(images: Sequence[torch.Tensor], network: torch.nn.Module, size: int) -> list[torch.Tensor]:
    """Translate each image at its own resolution (detail-preserving, generator at ``size`` px)."""
    inferer = TranslationInferer(size=size, detail_preserving=True)
    network = network.eval()
    return [inferer(img[None], network)[0] for img in images]


def judge_probabilities(judge: torch.nn.Module, images: Sequence[torch.Tensor]) -> np.ndarray:
    """Pneumonia probability of each image (one at a time: sizes differ)."""
    return np.array([float(pneumonia_probability(judge, img[None])[0]) for img in images])


def distances(extractor: FeatureExtractor, real: Sequence[torch.Tensor], sets: dict[str, Sequence[torch.Tensor]],
              kid_subset: int = 30, seed: int = 0) -> dict[str, dict[str, float]]:
    """FID and KID (mean, std over subsets) of each named set against ``real``."""
    real_f = extractor.extract(list(real), batch_size=16)
    out = {}
    for name, images in sets.items():
        feats = extractor.extract(list(images), batch_size=16)
        kid, kid_std = kid_from_features(real_f, feats, num_subsets=100, subset_size=kid_subset, seed=seed)
        out[name] = {"fid": fid_from_features(real_f, feats), "kid": kid, "kid_std": kid_std}
    return out


def save_grid(inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor], path: str | Path, n: int = 6,
              tile: int = 160, gain: float = 4.0) -> Path:
    """Rows: inputs, translations, change ``0.5 + gain * (out - in)``; each tile ``tile`` px (8-bit PNG)."""

    def tile_of(x: torch.Tensor) -> np.ndarray:
        img = Image.fromarray((x[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8))
        img.thumbnail((tile, tile), Image.Resampling.LANCZOS)
        canvas = Image.new("L", (tile, tile), 0)
        canvas.paste(img, ((tile - img.width) // 2, (tile - img.height) // 2))
        return np.asarray(canvas)

    rows = [
        [tile_of(x) for x in inputs[:n]],
        [tile_of(y) for y in outputs[:n]],
        [tile_of((0.5 + gain * (y - x)).clamp(0, 1)) for x, y in zip(inputs[:n], outputs[:n])],
    ]
    grid = np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path, optimize=True)
    return path


def _shift_report(before: np.ndarray, after: np.ndarray, n_boot: int) -> dict[str, float]:
    mean, lo, hi = bootstrap_mean_ci(after - before, n_boot)
    return {"n": int(len(before)), "p_before": float(before.mean()), "p_after": float(after.mean()),
            "shift": mean, "shift_ci95": [lo, hi], "frac_called_pneumonia_before": float((before > 0.5).mean()),
            "frac_called_pneumonia_after": float((after > 0.5).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dataset_dir", default="../shared/data/kermany")
    parser.add_argument("--split", default="test", help="patient split to score (train/val/test/all)")
    parser.add_argument("--g_ab", default=None, help="healthy->pneumonia generator (default: shipped)")
    parser.add_argument("--g_ba", default=None, help="pneumonia->healthy generator (default: shipped)")
    parser.add_argument("--size", type=int, default=None, help="generator working size (default: its info)")
    parser.add_argument("--max_images", type=int, default=None)
    parser.add_argument("--n_boot", type=int, default=5000)
    parser.add_argument("--inception", action="store_true", help="also FID/KID with TF-FID Inception features")
    parser.add_argument("--grid", default=None, help="write a sample grid PNG here")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    g_ab = load_network(args.g_ab or shipped_weights_path("cyclegan_G_AB.pt"))
    g_ba = load_network(args.g_ba or shipped_weights_path("cyclegan_G_BA.pt"))
    size = args.size or int(getattr(g_ab, "info", {}).get("image_size", 256))
    normal = load_images(domain_items(args.dataset_dir, "normal", args.max_images, split=args.split))
    pneu = load_images(domain_items(args.dataset_dir, "pneumonia", args.max_images, split=args.split))
    fake_pneu = translate(normal, g_ab, size)
    fake_normal = translate(pneu, g_ba, size)

    judge = load_pneumonia_judge()
    results: dict = {"split": args.split, "size": size, "n_normal": len(normal), "n_pneumonia": len(pneu),
                     "generator_info": {k: v for k, v in getattr(g_ab, "info", {}).items() if k != "role"}}
    p_normal, p_pneu = judge_probabilities(judge, normal), judge_probabilities(judge, pneu)
    results["G_AB_on_normal"] = _shift_report(p_normal, judge_probabilities(judge, fake_pneu), args.n_boot)
    results["G_BA_on_pneumonia"] = _shift_report(p_pneu, judge_probabilities(judge, fake_normal), args.n_boot)
    # Control: the *other* generator on normals. It should leave them normal; a rise here would mean
    # the judge reacts to generator artefacts, not to pneumonia-like content.
    results["control_G_BA_on_normal"] = _shift_report(
        p_normal, judge_probabilities(judge, translate(normal, g_ba, size)), args.n_boot)
    extractors: dict[str, FeatureExtractor] = {"judge": JudgeExtractor(judge)}
    if args.inception:
        extractors["inception"] = InceptionV3Extractor()
    sets = {"normal (untranslated)": normal, "G_AB(normal)": fake_pneu}
    results["distance_to_real_pneumonia"] = {k: distances(e, pneu, sets) for k, e in extractors.items()}
    if args.grid:
        save_grid(normal, fake_pneu, args.grid)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
