"""A tiny covidqu-layout folder for tests (manifest, images, lung and lesion masks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_covidqu(root: Path, n: int = 3, side: int = 64, split: str = "train", second_box: bool = False) -> Path:
    """``n`` COVID films (a bright lesion in the left lung, its box in ``bbox``) and ``n`` normal films.

    ``second_box``: film 0 also lists a lesion-free box in the other lung.
    """
    rng = np.random.default_rng(0)
    for d in ("images", "masks", "masks_lesion"):
        (root / d).mkdir()
    lung = np.zeros((side, side), np.uint8)
    lung[8:56, 6:28] = lung[8:56, 36:58] = 255
    rows = ["file,label,patient,mask_file,lesion_mask_file,bbox,split"]
    for i in range(2 * n):
        label = "covid" if i < n else "normal"
        img = (rng.random((side, side)) * 120 + 40).astype(np.uint8)
        les = np.zeros((side, side), np.uint8)
        bbox = ""
        if label == "covid":
            img[20:40, 10:26] = 220
            les[20:40, 10:26] = 255
            bbox = "10 20 25 39;40 12 55 27" if (second_box and i == 0) else "10 20 25 39"
        for d, a in (("images", img), ("masks", lung), ("masks_lesion", les)):
            Image.fromarray(a).save(root / d / f"{label}_{i}.png")
        rows.append(f"images/{label}_{i}.png,{label},{label}_{i},masks/{label}_{i}.png,"
                    f"masks_lesion/{label}_{i}.png,{bbox},{split}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root
