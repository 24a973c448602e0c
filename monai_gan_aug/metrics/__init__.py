"""Generative-model metrics (FID, KID, IS-style score, precision/recall/density/coverage, MS-SSIM diversity) over pluggable feature extractors."""

from __future__ import annotations

from .extractors import (
    EXTRACTORS,
    EfficientNetLite0Extractor,
    FeatureExtractor,
    InceptionV3Extractor,
    JudgeExtractor,
    ModuleExtractor,
    RandomConvExtractor,
    check_images,
    get_extractor,
    inception_weights_path,
    tf1_resize_bilinear,
)
from .features import (
    DEFAULT_CACHE_DIR,
    cache_key,
    cached_features,
    check_features,
    file_list_hash,
)
from .fid import (
    GaussianStats,
    fid_from_features,
    frechet_distance,
)
from .kid import (
    kid_from_features,
    mmd2_unbiased,
    polynomial_kernel,
)
from .inception_score import (
    inception_score_from_probs,
)
from .prdc import (
    knn_radii,
    prdc_from_features,
)
from .diversity import (
    MSSSIM_WEIGHTS,
    msssim_diversity,
    msssim_scales,
)
from .handlers import (
    FIDHandler,
    GenerativeMetricsHandler,
)
from .evaluate import (
    ALL_METRICS,
    IMAGE_SUFFIXES,
    evaluate_folders,
    list_images,
    load_image,
)

__all__ = [
    "EXTRACTORS",
    "EfficientNetLite0Extractor",
    "FeatureExtractor",
    "InceptionV3Extractor",
    "JudgeExtractor",
    "ModuleExtractor",
    "RandomConvExtractor",
    "check_images",
    "get_extractor",
    "inception_weights_path",
    "tf1_resize_bilinear",
    "DEFAULT_CACHE_DIR",
    "cache_key",
    "cached_features",
    "check_features",
    "file_list_hash",
    "GaussianStats",
    "fid_from_features",
    "frechet_distance",
    "kid_from_features",
    "mmd2_unbiased",
    "polynomial_kernel",
    "inception_score_from_probs",
    "knn_radii",
    "prdc_from_features",
    "MSSSIM_WEIGHTS",
    "msssim_diversity",
    "msssim_scales",
    "FIDHandler",
    "GenerativeMetricsHandler",
    "ALL_METRICS",
    "IMAGE_SUFFIXES",
    "evaluate_folders",
    "list_images",
    "load_image",
]
