"""Reports of the utility harness: a Markdown learning-curve table and a PNG plot of metric vs ``N``.

The plot uses matplotlib when it is installed and otherwise draws with PIL (always available),
so the harness adds no plotting dependency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["learning_curve_table", "plot_learning_curves"]

#: line colours of the arms, in order (RGB)
_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
            (227, 119, 194), (127, 127, 127)]


def _fmt_ms(d: Mapping[str, Any]) -> str:
    return f"{d['mean']:.3f}" + ("" if d.get("sd") is None else f" ± {d['sd']:.3f}")


def _fmt_diff(d: Mapping[str, Any] | None) -> str:
    if d is None:
        return "—"
    ci = "" if d.get("ci") is None else f" [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"
    return f"{d['mean']:+.3f}{ci}"


def learning_curve_table(result: Mapping[str, Any], metrics: Sequence[str] | None = None) -> str:
    """A Markdown table: one row per (``N``, arm), each metric's mean ± sd and paired difference to real-only.

    Args:
        result: what :func:`~monai_gan_aug.metrics.utility.harness.run_utility` returns.
        metrics: columns (default: all the task's metrics, primary first).

    Returns:
        The table (header, separator and rows), differences as ``mean [95 % CI]``.
    """
    metrics = list(metrics or [result["primary"]] + [m for m in result["metrics"] if m != result["primary"]])
    head = ["N", "arm", "seeds"]
    for m in metrics:
        arrow = "↑" if result.get("higher_is_better", {}).get(m, True) else "↓"
        head += [f"{m} {arrow}", f"Δ{m} vs real_only [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["summary"]:
        cells = [str(row["n"]), row["arm"], str(len(row["seeds"]))]
        for m in metrics:
            cells += [_fmt_ms(row[m]), _fmt_diff(row.get(f"{m}_diff"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _series(result: Mapping[str, Any], metric: str) -> dict[str, list[tuple[int, float, float]]]:
    out: dict[str, list[tuple[int, float, float]]] = {}
    for row in result["summary"]:
        out.setdefault(row["arm"], []).append((row["n"], row[metric]["mean"], row[metric].get("sd") or 0.0))
    return out


def plot_learning_curves(result: Mapping[str, Any], path: str | Path, metric: str | None = None) -> Path:
    """Write a PNG of ``metric`` (default: the primary one) against ``N`` (log axis), one line per arm.

    Points are means over seeds with ± 1 sd bars; arms are slightly offset horizontally so bars do
    not overlap. matplotlib draws it if installed, else PIL.

    Returns:
        The path written.
    """
    metric = metric or result["primary"]
    series = _series(result, metric)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    title = f"{result['task']}: {metric} vs real budget N ({result['settings']['steps']} steps, " \
            f"{len(result['settings']['seeds'])} seeds)"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _plot_pil(series, path, title, metric)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for i, (arm, pts) in enumerate(series.items()):
        xs = [p[0] * (1 + 0.02 * (i - len(series) / 2)) for p in pts]
        ax.errorbar(xs, [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=3, label=arm,
                    color=[c / 255 for c in _COLOURS[i % len(_COLOURS)]])
    ax.set_xscale("log")
    ax.set_xticks(sorted({p[0] for pts in series.values() for p in pts}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("real lesion films N (plus N normals)")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_pil(series: Mapping[str, list[tuple[int, float, float]]], path: Path, title: str, metric: str) -> Path:
    import math

    from PIL import Image, ImageDraw

    w, h, left, right, top, bottom = 640, 420, 70, 170, 40, 50
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    ns = sorted({p[0] for pts in series.values() for p in pts})
    lo = min(p[1] - p[2] for pts in series.values() for p in pts)
    hi = max(p[1] + p[2] for pts in series.values() for p in pts)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    lx0, lx1 = math.log(ns[0]), math.log(ns[-1]) if len(ns) > 1 else math.log(ns[0]) + 1

    def xy(n: float, v: float) -> tuple[float, float]:
        x = left + (w - left - right) * ((math.log(n) - lx0) / (lx1 - lx0) if lx1 > lx0 else 0.5)
        return x, top + (h - top - bottom) * (1 - (v - lo) / (hi - lo))

    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for k in range(5):  # y ticks
        v = lo + (hi - lo) * k / 4
        _, y = xy(ns[0], v)
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((5, y - 6), f"{v:.3f}", fill="black")
    for n in ns:
        x, _ = xy(n, lo)
        draw.line([x, h - bottom, x, h - bottom + 4], fill="black")
        draw.text((x - 8, h - bottom + 6), str(n), fill="black")
    draw.text((left, 10), title, fill="black")
    draw.text((left + 120, h - 20), "real lesion films N (log axis)", fill="black")
    draw.text((5, top - 20), metric, fill="black")
    for i, (arm, pts) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        dx = 4 * (i - len(series) / 2)
        pix = [(xy(n, m)[0] + dx, xy(n, m)[1], xy(n, m - s)[1], xy(n, m + s)[1]) for n, m, s in pts]
        if len(pix) > 1:
            draw.line([(p[0], p[1]) for p in pix], fill=colour, width=2)
        for x, y, y_lo, y_hi in pix:
            draw.line([x, y_lo, x, y_hi], fill=colour)
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        ly = top + 10 + 18 * i
        draw.line([w - right + 10, ly + 6, w - right + 30, ly + 6], fill=colour, width=3)
        draw.text((w - right + 35, ly), arm, fill="black")
    img.save(path)
    return path
