"""Inferers: region edit (crop, generate, composite), the headline edit pipeline, translation, difference maps."""

from __future__ import annotations

from .region_edit import (
    CLASS_HEALTHY,
    CLASS_PNEUMONIA,
    RegionEditInferer,
)
from .edit import (
    DEFAULT_WEIGHTS,
    EditResult,
    PneumoniaEditor,
    output_suffix_for,
)
from .translation import (
    TranslationInferer,
    box_weight,
)
from .difference_map import (
    DEFAULT_G_BA_WEIGHTS,
    DifferenceMapInferer,
    DifferenceMapLabelD,
    DifferenceMapLabelDict,
    DifferenceMapLabeld,
    OUTPUTS,
    dicom_seg_backend,
    generator_size,
    load_sick_to_healthy,
)

__all__ = [
    "CLASS_HEALTHY",
    "CLASS_PNEUMONIA",
    "RegionEditInferer",
    "DEFAULT_WEIGHTS",
    "EditResult",
    "PneumoniaEditor",
    "output_suffix_for",
    "TranslationInferer",
    "box_weight",
    "DEFAULT_G_BA_WEIGHTS",
    "DifferenceMapInferer",
    "DifferenceMapLabelD",
    "DifferenceMapLabelDict",
    "DifferenceMapLabeld",
    "OUTPUTS",
    "dicom_seg_backend",
    "generator_size",
    "load_sick_to_healthy",
]
