"""Evaluate trained vs untrained generators of the GAN family (FID/KID/PRDC), write JSON and sample grids.

Usage: python scripts/eval_gan_family.py <model> <weights> <real_dir> <out_dir> [extractor ...]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from monai_gan_aug.cli.sample import sample_to_folder
from monai_gan_aug.metrics.evaluate import evaluate_folders
from monai_gan_aug.networks.factory import build_network, load_network

torch.set_num_threads(1)
model, weights, real_dir, out_dir = sys.argv[1:5]
extractors = sys.argv[5:] or ["judge"]
out = Path(out_dir)
N = 200
trained = load_network(weights)
ckpt = torch.load(weights, weights_only=True)
torch.manual_seed(0)
untrained = build_network(ckpt["network"], **ckpt["network_kwargs"]).eval()  # same architecture, random init
results = {"model": model, "weights": weights, "info": trained.info, "n_fake": N}
for tag, net in (("trained", trained), ("untrained", untrained)):
    folder = out / f"{model}_{tag}"
    t0 = time.time()
    sample_to_folder(net, N, folder, seed=0, bundle=model, weights=weights if tag == "trained" else "random init")
    results[f"{tag}_sampling_s"] = round(time.time() - t0, 2)
    for ext in extractors:
        r = evaluate_folders(real_dir, folder, extractor=ext, metrics=("fid", "kid", "prdc"), kid_subset_size=100,
                             cache_dir=str(out / "feature_cache"))
        results[f"{tag}_{ext}"] = r
        print(tag, ext, {k: r[k] for k in ("fid", "kid", "precision", "recall", "seconds")}, flush=True)
(out / f"{model}_metrics.json").write_text(json.dumps(results, indent=2, default=str))


def row(folder: Path, n: int = 8) -> np.ndarray:
    ims = [np.asarray(Image.open(folder / f"{model}_{i:05d}.png"), dtype=np.float32) for i in range(n)]
    ims = [im / (65535.0 if im.max() > 255 else 255.0) for im in ims]
    pad = np.ones((ims[0].shape[0], 2), np.float32)
    return np.concatenate(sum(([im, pad] for im in ims), [])[:-1], axis=1)


top, bottom = row(out / f"{model}_untrained"), row(out / f"{model}_trained")
grid = np.concatenate([top, np.ones((2, top.shape[1]), np.float32), bottom], axis=0)
Image.fromarray((grid * 255 + 0.5).astype(np.uint8), mode="L").save(out / f"gan_family_{model}.png")
print("grid", out / f"gan_family_{model}.png")
