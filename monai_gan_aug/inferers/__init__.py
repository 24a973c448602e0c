"""Inferers: region edit (crop, generate, composite), the headline edit pipeline, translation, difference maps.

Names are imported lazily on first use (PEP 562), so importing one submodule does not import
the dependencies of all the others.
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "CLASS_HEALTHY": "region_edit",
    "CLASS_PNEUMONIA": "region_edit",
    "RegionEditInferer": "region_edit",
    "DEFAULT_WEIGHTS": "edit",
    "EditResult": "edit",
    "PneumoniaEditor": "edit",
    "edit_datalist": "edit",
    "output_suffix_for": "edit",
    "LesionOpacityInferer": "opacity_edit",
    "REFERENCE_LUNG_HEIGHT": "opacity_edit",
    "edit_lesion": "opacity_edit",
    "reference_scale": "opacity_edit",
    "TranslationInferer": "translation",
    "box_weight": "translation",
    "DEFAULT_G_BA_WEIGHTS": "difference_map",
    "DifferenceMapInferer": "difference_map",
    "DifferenceMapLabelD": "difference_map",
    "DifferenceMapLabelDict": "difference_map",
    "DifferenceMapLabeld": "difference_map",
    "OUTPUTS": "difference_map",
    "dicom_seg_backend": "difference_map",
    "generator_size": "difference_map",
    "load_sick_to_healthy": "difference_map",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
