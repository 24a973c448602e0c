"""The utility harness (issue #17): does synthetic data help a downstream model on real held-out films?

One concept per module, exported lazily (importing one module never imports its siblings'
dependencies):

* :mod:`.budgets`: real-data budgets (``N`` lesion + ``N`` normal films, nested, seeded), covidqu
  items, lesion regions from real boxes clipped to the lung;
* :mod:`.arms`: augmentation arms as plug-ins (real only, classical MONAI augmentation, lesions
  painted by the learned generator or the non-learned opacity baseline, with a ratio);
* :mod:`.segmentation`, :mod:`.classification`, :mod:`.detection`: the fixed-step MONAI trainers
  and scorers (Dice/HD95, ROC-AUC, CL@IoU0.1/FROC);
  :mod:`.tasks` wraps them behind one interface;
* :mod:`.stats`: paired difference to the real-only arm with a Student-t interval;
* :mod:`.harness`: :func:`run_utility`, the experiment;
* :mod:`.report`: Markdown learning-curve table and PNG plot.

The command is ``monai-gan-aug utility`` (:mod:`monai_gan_aug.cli.utility`); results and their
reading are in ``docs/utility.md``.
"""

from __future__ import annotations

from ...utils.lazy import lazy_exports

_EXPORTS = {
    "paired_difference_ci": "stats",
    "mean_sd": "stats",
    "sample_items": "budgets",
    "parse_boxes": "budgets",
    "clip_box_to_lung": "budgets",
    "covidqu_items": "budgets",
    "nested_budget": "budgets",
    "draw_lesion_region": "budgets",
    "ARMS": "arms",
    "DEFAULT_LESION_WEIGHTS": "arms",
    "Arm": "arms",
    "GanLesionSynthesizer": "arms",
    "OpacityBaselineSynthesizer": "arms",
    "build_arm": "arms",
    "region_mask": "arms",
    "synthesize_arm_items": "arms",
    "UNET_CHANNELS": "segmentation",
    "build_unet": "segmentation",
    "train_segmenter": "segmentation",
    "evaluate_segmenter": "segmentation",
    "hd95_per_film": "segmentation",
    "build_small_classifier": "classification",
    "train_classifier_steps": "classification",
    "mask_boxes": "detection",
    "correct_location": "detection",
    "cl_at_iou": "detection",
    "froc_sensitivity": "detection",
    "build_detector": "detection",
    "train_detector": "detection",
    "detection_scores": "detection",
    "TASKS": "tasks",
    "Task": "tasks",
    "SegmentationTask": "tasks",
    "ClassificationTask": "tasks",
    "DetectionTask": "tasks",
    "get_task": "tasks",
    "REFERENCE_ARM": "harness",
    "prepare_harness_items": "harness",
    "run_utility": "harness",
    "summarise": "harness",
    "learning_curve_table": "report",
    "plot_learning_curves": "report",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
