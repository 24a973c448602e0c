"""docs/images/edit_grid.png: the headline edit on held-out films of three sizes, beside real lesions.

    python scripts/make_edit_grid.py --data ../shared/data --out docs/images/edit_grid.png

Rows: normal covidqu ``val`` films (256 px, boxes of real val lesions), normal Kermany ``test``
films (512 px, RSNA-prior boxes) and ``RG1_UNCR.dcm`` (1955 x 1841 CR from pydicom-data). Columns,
each a window of twice the box around it: input | opacity GAN output | what it added (|difference|,
hot, own max) with the footprint outlined | non-learned baseline | previous repaint weights |
a real covidqu ``val`` lesion window of similar relative size (a different film).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--out", default="docs/images/edit_grid.png")
    parser.add_argument("--opacity-weights", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, default=200, help="side of each window in the figure")
    parser.add_argument("--extent", choices=["loose", "tight"], default="tight",
                        help="footprint span of the opacity arms; the covidqu rows' boxes are tight real-lesion boxes")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not (data / "covidqu" / "manifest.csv").is_file():
        print(f"SKIPPED: no shared data at {data}")
        return 0
    import numpy as np
    import torch
    from pydicom.data import get_testdata_file

    from monai_gan_aug.metrics import scorecard as sc
    from monai_gan_aug.metrics.region_judge import region_window
    from monai_gan_aug.networks.factory import load_network
    from monai_gan_aug.transforms.io import LoadXRay
    from monai_gan_aug.utils.weights import shipped_weights_path
    from monai_gan_aug.visualize import hot, outline, save_rgb

    torch.set_num_threads(1)
    opacity = load_network(args.opacity_weights or shipped_weights_path("lesion_opacity.pt"))
    repaint = load_network(shipped_weights_path("lesion_inpaint.pt"))
    gan, base = sc.generator_arm(opacity, extent=args.extent), sc.baseline_arm(extent=args.extent)
    prev = sc.generator_arm(repaint, class_index=1)
    cases = sc.covidqu_cases(data / "covidqu", "val", n=12, seed=args.seed)[::4]
    cases += sc.kermany_cases(data / "kermany", "test", n=2, seed=args.seed)
    rg1 = LoadXRay()(get_testdata_file("RG1_UNCR.dcm"))
    cases.append(sc.EditCase("RG1_UNCR", torch.as_tensor(rg1).float(), [1150, 700, 1550, 1200], None))
    real_crops, _ = sc.real_lesion_crops(data / "covidqu", "val", size=args.size, context=2.0)

    def grey(w: torch.Tensor) -> np.ndarray:
        g = (w.reshape(w.shape[-2:]).clamp(0, 1).numpy() * 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=-1)

    rows = []
    gap = np.full((args.size, 4, 3), 255, np.uint8)
    for i, case in enumerate(cases):
        win = lambda img: region_window(torch.as_tensor(img).float(), case.box, args.size, 2.0)  # noqa: E731
        out, label = gan(case, args.seed + i)
        diff = (win(out) - win(case.image)).abs().reshape(args.size, args.size).numpy()
        diff_rgb = hot(diff / diff.max() if diff.max() > 0 else diff)
        fp = win(label.float()).reshape(args.size, args.size).numpy() > 0.5
        diff_rgb[outline(fp, 1)] = (80, 160, 255)
        cols = [grey(win(case.image)), grey(win(out)), diff_rgb, grey(win(base(case, args.seed + i)[0])),
                grey(win(prev(case, args.seed + i)[0])), grey(real_crops[(7 * i) % len(real_crops)])]
        row = [c for col in cols for c in (col, gap)][:-1]
        rows.append(np.concatenate(row, axis=1))
        rows.append(np.full((4, rows[-1].shape[1], 3), 255, np.uint8))
    save_rgb(rows[:-1], args.out)
    print("wrote", args.out, "rows:", ", ".join(f"{c.film} {tuple(c.image.shape[-2:])}" for c in cases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
