"""Generative-model metrics (FID, KID, IS-style score, precision/recall/density/coverage, MS-SSIM diversity) over pluggable feature extractors.

Region-edit realism: a classifier two-sample test between crop sets (``forensic``) and per-edit
seam / kept-structure measures (``edit_quality``).

Names are imported lazily on first use (PEP 562), so importing one submodule does not import
the dependencies of all the others.
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "EXTRACTORS": "extractors",
    "EfficientNetLite0Extractor": "extractors",
    "FeatureExtractor": "extractors",
    "InceptionV3Extractor": "extractors",
    "JudgeExtractor": "extractors",
    "ModuleExtractor": "extractors",
    "RandomConvExtractor": "extractors",
    "check_images": "extractors",
    "get_extractor": "extractors",
    "inception_weights_path": "extractors",
    "tf1_resize_bilinear": "extractors",
    "DEFAULT_CACHE_DIR": "features",
    "cache_key": "features",
    "cached_features": "features",
    "check_features": "features",
    "file_list_hash": "features",
    "GaussianStats": "fid",
    "fid_from_features": "fid",
    "frechet_distance": "fid",
    "kid_from_features": "kid",
    "mmd2_unbiased": "kid",
    "polynomial_kernel": "kid",
    "inception_score_from_probs": "inception_score",
    "knn_radii": "prdc",
    "prdc_from_features": "prdc",
    "MSSSIM_WEIGHTS": "diversity",
    "msssim_diversity": "diversity",
    "msssim_scales": "diversity",
    "FIDHandler": "handlers",
    "GenerativeMetricsHandler": "handlers",
    "ALL_METRICS": "evaluate",
    "IMAGE_SUFFIXES": "evaluate",
    "evaluate_folders": "evaluate",
    "list_images": "evaluate",
    "utility_experiment": "downstream",
    "online_utility_experiment": "downstream",
    "segmentation_utility_experiment": "downstream_segmentation",
    "run_utility": "utility.harness",
    "learning_curve_table": "utility.report",
    "plot_learning_curves": "utility.report",
    "REGION_JUDGE_WEIGHTS": "region_judge",
    "REGION_CONTEXT": "region_judge",
    "region_window": "region_judge",
    "region_window_bounds": "region_judge",
    "mirrored_box": "region_judge",
    "draw_lung_boxes": "region_judge",
    "load_region_judge": "region_judge",
    "region_pneumonia_probability": "region_judge",
    "load_image": "evaluate",
    "C2STResult": "forensic",
    "GROUP_MODES": "forensic",
    "group_folds": "forensic",
    "prepare_crops": "forensic",
    "classifier_two_sample_test": "forensic",
    "group_of": "forensic",
    "load_crops": "forensic",
    "c2st_folders": "forensic",
    "SEAM_FLOOR": "edit_quality",
    "outline_band": "edit_quality",
    "detail": "edit_quality",
    "gradient_magnitude": "edit_quality",
    "outline_edge_energy": "edit_quality",
    "seam_ratio": "edit_quality",
    "box_edge_profiles": "edit_quality",
    "straight_seam_ratio": "edit_quality",
    "structure_correlation": "edit_quality",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
