"""MONAI dictionary and array transforms for chest X-rays and CT: loading and saving, text removal, lung and region masks, context windows, difference maps and GAN augmentation.

Names are imported lazily on first use (PEP 562), so importing one submodule does not import
the dependencies of all the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoadXRay": "io",
    "LoadXRayD": "io",
    "LoadXRayDict": "io",
    "LoadXRayd": "io",
    "RADIOGRAPH_MODALITIES": "io",
    "SaveXRay": "io",
    "SaveXRayD": "io",
    "SaveXRayDict": "io",
    "SaveXRayd": "io",
    "synthetic_marker": "io",
    "LUNG_HU_RANGE": "ct",
    "LoadCTSlice": "ct",
    "LoadCTSliceD": "ct",
    "LoadCTSliceDict": "ct",
    "LoadCTSliced": "ct",
    "WINDOW_PRESETS": "ct",
    "lung_coverage": "ct",
    "window_hu": "ct",
    "ValidateImage": "validate",
    "ValidateImageD": "validate",
    "ValidateImageDict": "validate",
    "ValidateImaged": "validate",
    "check_image": "validate",
    "METHODS": "text",
    "RemoveBurnedInText": "text",
    "RemoveBurnedInTextD": "text",
    "RemoveBurnedInTextDict": "text",
    "RemoveBurnedInTextd": "text",
    "TextDetectionParams": "text",
    "detect_text_components": "text",
    "DEFAULT_WORKING_SIZE": "lung",
    "LUNG_WEIGHTS_NAME": "lung",
    "LungMask": "lung",
    "LungMaskD": "lung",
    "LungMaskDict": "lung",
    "LungMaskd": "lung",
    "keep_largest_components": "lung",
    "load_lung_network": "lung",
    "to_working_size": "lung",
    "RandRegionMask": "region",
    "RandRegionMaskD": "region",
    "RandRegionMaskDict": "region",
    "RandRegionMaskd": "region",
    "Region": "region",
    "RegionMask": "region",
    "RegionMaskD": "region",
    "RegionMaskDict": "region",
    "RegionMaskd": "region",
    "UNITS": "region",
    "feather_weight": "region",
    "load_box_prior": "region",
    "parse_region": "region",
    "CropRegionWindow": "window",
    "CropRegionWindowD": "window",
    "CropRegionWindowDict": "window",
    "CropRegionWindowd": "window",
    "RandCropRegionWindowD": "window",
    "RandCropRegionWindowDict": "window",
    "RandCropRegionWindowd": "window",
    "WindowGeometry": "window",
    "context_window": "window",
    "crop_to_working": "window",
    "paste_from_working": "window",
    "region_bbox": "window",
    "DifferenceMap": "diffmap",
    "DifferenceMapD": "diffmap",
    "DifferenceMapDict": "diffmap",
    "DifferenceMapd": "diffmap",
    "POLARITIES": "diffmap",
    "SaveLesionOverlayD": "diffmap",
    "SaveLesionOverlayDict": "diffmap",
    "SaveLesionOverlayd": "diffmap",
    "band_mask": "diffmap",
    "lesion_map": "diffmap",
    "overlay_rgb": "diffmap",
    "CLASS_HEALTHY": "augment",
    "CLASS_PNEUMONIA": "augment",
    "DEFAULT_WEIGHTS": "augment",
    "GANAugment": "augment",
    "MODES": "augment",
    "RandGANAugment": "augment",
    "RandGANAugmentD": "augment",
    "RandGANAugmentDict": "augment",
    "RandGANAugmentd": "augment",
    "load_generator": "augment",
    "weights_fingerprint": "augment",
    "DIFFAUGMENT_POLICIES": "diffaugment",
    "DiffAugment": "diffaugment",
    "DiffAugmentD": "diffaugment",
    "DiffAugmentDict": "diffaugment",
    "DiffAugmentd": "diffaugment",
    "diff_augment": "diffaugment",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
