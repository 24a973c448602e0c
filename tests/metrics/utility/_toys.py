"""Tiny synthetic films for the utility harness tests: discs on noise, with exact lesion masks."""

from __future__ import annotations

import numpy as np
import torch

SIZE = 32
SMALL = (8, 16, 32)  # a three-level UNet: a second or two per training at 32 px


def disc(cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def toy_film(rng: np.random.Generator, lesion: bool, intensity: tuple[float, ...] = (0.9,)) -> dict:
    """A noisy 0.3 background; a lesion film has one disc (radius 6-8), its intensity one of ``intensity``."""
    img = 0.3 + 0.03 * rng.standard_normal((SIZE, SIZE))
    mask = np.zeros((SIZE, SIZE), bool)
    boxes = []
    if lesion:
        r = int(rng.integers(6, 9))
        cy, cx = (int(v) for v in rng.integers(r + 1, SIZE - r - 1, size=2))
        mask = disc(cy, cx, r)
        img[mask] = float(rng.choice(intensity)) + 0.03 * rng.standard_normal(int(mask.sum()))
        boxes = [[cx - r, cy - r, cx + r + 1, cy + r + 1]]
    lung = np.zeros((1, SIZE, SIZE), np.float32)
    lung[:, 1:-1, 1:-1] = 1
    return {"image": torch.from_numpy(np.clip(img, 0, 1).astype(np.float32))[None],
            "lesion_mask": torch.from_numpy(mask.astype(np.float32))[None],
            "lung_mask": torch.from_numpy(lung), "cls": int(lesion), "boxes": boxes}


def toy_set(n_lesion: int, n_normal: int, seed: int, prefix: str, intensity=(0.9,)) -> list[dict]:
    rng = np.random.default_rng(seed)
    items = [toy_film(rng, True, intensity) for _ in range(n_lesion)] + [toy_film(rng, False) for _ in range(n_normal)]
    for k, d in enumerate(items):
        d["patient"] = f"{prefix}{k}"
    return items


class OracleDiscs:
    """A perfect synthesizer: a disc inscribed in the region, its intensity one of ``intensity``."""

    def __init__(self, intensity: tuple[float, ...]) -> None:
        self.intensity = intensity

    def __call__(self, image, lung, region, seed):
        rng = np.random.default_rng(seed)
        x0, y0, x1, y1 = region
        r = max(3, min(x1 - x0, y1 - y0) // 2 - 1)
        mask = disc((y0 + y1) // 2, (x0 + x1) // 2, r)
        out = image.clone()
        noise = 0.03 * rng.standard_normal(int(mask.sum()))
        out[0][torch.from_numpy(mask)] = torch.from_numpy(
            (rng.choice(self.intensity) + noise).astype(np.float32)).clamp(0, 1)
        return out, torch.from_numpy(mask.astype(np.float32))[None]
