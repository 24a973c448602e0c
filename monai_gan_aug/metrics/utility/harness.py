"""The utility harness: for each seed, real-data budget and arm, train a downstream model and score it.

:func:`run_utility` is the one experiment behind ``monai-gan-aug utility``. For a task
(:mod:`.tasks`), budgets ``N`` (:func:`~.budgets.nested_budget`: ``N`` lesion + ``N`` normal real
training films, nested across ``N``), arms (:mod:`.arms`) and seeds, every cell trains a fresh
model for the same fixed number of optimiser steps and scores it on one fixed held-out real set.
Within a (seed, ``N``) all arms share the same real films and the same seed (weights, batch order),
so differences to the ``real_only`` arm are paired by seed; :func:`summarise` reports each arm's
mean and the mean paired difference with its 95 % Student-t interval (:mod:`.stats`).

Nothing here looks at the held-out set to choose settings: models are trained for the fixed step
count and scored once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError, DatasetError
from .arms import Arm, synthesize_arm_items
from .budgets import nested_budget
from .stats import mean_sd, paired_difference_ci
from .tasks import Task

__all__ = ["prepare_harness_items", "run_utility", "summarise", "REFERENCE_ARM"]

#: the arm every other arm is compared with
REFERENCE_ARM = "real_only"


def prepare_harness_items(items: Sequence[Mapping[str, Any]], size: int) -> list[dict[str, Any]]:
    """Items with tensors at the working size: ``{"image", "mask", "cls", "patient"}``.

    Input items hold ``image`` (path or ``(1, H, W)`` tensor), ``cls`` (0/1) and ``lesion_mask``
    (path or tensor; may be absent or ``None`` for a normal film, which then gets an empty mask).
    Image and mask are resized together
    (:func:`~monai_gan_aug.metrics.utility.segmentation.prepare_segmentation_items`).
    """
    import torch

    from .segmentation import _image_tensor, prepare_segmentation_items

    out = []
    for d in items:
        mask = d.get("lesion_mask")
        if mask is None:
            mask = torch.zeros_like(_image_tensor(d["image"]))
        pair = prepare_segmentation_items([{"image": d["image"], "label": mask}], size)[0]
        out.append({"image": pair["image"], "mask": pair["label"], "cls": int(d["cls"]),
                    "patient": d.get("patient")})
    return out


def _key(item: Mapping[str, Any]) -> str:
    return str(item["image"]) if isinstance(item["image"], (str, Path)) else str(id(item["image"]))


def run_utility(
    task: Task,
    train_items: Sequence[Mapping[str, Any]],
    test_items: Sequence[Mapping[str, Any]],
    *,
    budgets: Sequence[int],
    arms: Sequence[Arm],
    seeds: Sequence[int],
    steps: int,
    size: int,
    log: Callable[[str], None] | None = None,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train and score ``task`` for every seed x budget x arm; see the module docstring.

    Args:
        task: the downstream task.
        train_items: the real training pool (``image``, ``lesion_mask``, ``lung_mask``, ``cls``,
            ``boxes``, ``patient``; see :func:`~.budgets.covidqu_items`).
        test_items: held-out real films (same keys; ``lung_mask``/``boxes`` unused), never trained on.
        budgets: values of ``N`` (lesion films, plus as many normals).
        arms: arms to run; must include :data:`REFERENCE_ARM` for the paired differences.
        seeds: seeds (budget draw, synthesis, weights and batch order).
        steps: optimiser steps of every model.
        size: working size in pixels.
        log: optional progress callback.
        on_run: optional callback given each finished run's row (for incremental saving).

    Returns:
        ``{"task", "primary", "metrics", "higher_is_better", "runs": [rows], "summary": summarise(...),
        "settings": {...}}``; a row is ``{"n", "arm", "seed", "scores", "steps", "pool",
        "n_synthetic", "train_seconds", "synth_seconds"}``.

    Raises:
        ConfigError: no arm, duplicate arm names, ``steps < 1``.
        DatasetError: a training film is also a test film, or a budget larger than the pool.
    """
    names = [a.name for a in arms]
    if not arms or len(set(names)) != len(names):
        raise ConfigError(f"need at least one arm with unique names, got {names}")
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    shared = {_key(d) for d in train_items} & {_key(d) for d in test_items}
    if shared:
        raise DatasetError(f"{len(shared)} training films are also test films, e.g. {sorted(shared)[:2]}")
    t0 = time.time()
    test = prepare_harness_items(test_items, size)
    cache: dict[str, dict[str, Any]] = {}
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        for n in budgets:
            budget = nested_budget(train_items, int(n), int(seed))
            real = []
            for d in budget["lesion"] + budget["normal"]:
                k = _key(d)
                if k not in cache:
                    cache[k] = prepare_harness_items([d], size)[0]
                real.append(cache[k])
            for arm in arms:
                ts = time.time()
                synthetic = synthesize_arm_items(arm, budget, int(seed), size)
                t_syn = time.time() - ts
                record: dict[str, Any] = {}
                tt = time.time()
                model = task.train(real + synthetic, steps=steps, seed=int(seed), augment=arm.augment, record=record)
                t_train = time.time() - tt
                scores = task.evaluate(model, test)
                row = {"n": int(n), "arm": arm.name, "seed": int(seed), "scores": scores,
                       "steps": record.get("steps"), "pool": len(real) + len(synthetic),
                       "n_synthetic": len(synthetic), "train_seconds": round(t_train, 1),
                       "synth_seconds": round(t_syn, 1)}
                runs.append(row)
                if on_run is not None:
                    on_run(row)
                if log is not None:
                    log(f"{task.name} N={n} seed={seed} {arm.name}: {task.primary} "
                        f"{scores[task.primary]:.4f} ({record.get('steps')} steps, pool {row['pool']}, "
                        f"{t_train:.0f}s)")
    return {
        "task": task.name, "primary": task.primary, "metrics": list(task.metrics),
        "higher_is_better": dict(task.higher_is_better), "runs": runs,
        "summary": summarise(runs, task.metrics, names),
        "settings": {"budgets": [int(b) for b in budgets], "arms": names, "seeds": [int(s) for s in seeds],
                     "steps": int(steps), "size": int(size), "batch_size": task.batch_size, "lr": task.lr,
                     "n_train_pool": len(train_items), "n_test": len(test_items),
                     "n_test_lesion": sum(int(d["cls"]) for d in test_items),
                     "budget": "same optimiser steps in every arm",
                     "interval": "two-sided 95% Student-t over per-seed paired differences arm - real_only",
                     "wall_seconds": round(time.time() - t0, 1)},
    }


def summarise(runs: Sequence[Mapping[str, Any]], metrics: Sequence[str], arms: Sequence[str]) -> list[dict[str, Any]]:
    """Per (``N``, arm): each metric's mean/sd over seeds and the paired difference to ``real_only``.

    Returns:
        Rows ``{"n", "arm", "seeds", "<metric>": mean_sd, "<metric>_diff": paired_difference_ci or
        None}`` in budget then arm order; ``_diff`` is ``None`` for the reference arm itself or when
        there is no reference arm. Only seeds present in both arms are paired.
    """
    out = []
    for n in sorted({int(r["n"]) for r in runs}):
        by_arm = {a: {int(r["seed"]): r for r in runs if int(r["n"]) == n and r["arm"] == a} for a in arms}
        ref = by_arm.get(REFERENCE_ARM, {})
        for a in arms:
            rows = by_arm[a]
            if not rows:
                continue
            entry: dict[str, Any] = {"n": n, "arm": a, "seeds": sorted(rows)}
            for m in metrics:
                entry[m] = mean_sd([rows[s]["scores"][m] for s in sorted(rows)])
                paired = sorted(set(rows) & set(ref))
                entry[f"{m}_diff"] = (paired_difference_ci([ref[s]["scores"][m] for s in paired],
                                                          [rows[s]["scores"][m] for s in paired])
                                      if a != REFERENCE_ARM and paired else None)
            out.append(entry)
    return out
