"""MONAI Label app of monai-gan-aug: region edits, CycleGAN translation, lesion fine-tuning.

Start it from the label environment (``bash scripts/setup-label-env.sh``)::

    .venv-label/bin/monailabel start_server --app monai_gan_aug/label --studies <folder of PNG/DICOM> \\
        --conf sam2 false --conf lesion_weights <lesion_generator.pt>

Configuration (``--conf name value``):

* ``opacity_weights``: pneumonia opacity generator (default: shipped ``weights/lesion_opacity.pt``);
* ``lesion_weights``: lesion generator checkpoint (default: shipped ``weights/lesion_inpaint.pt``);
* ``cyclegan_weights``: CycleGAN generator (default: shipped ``weights/cyclegan_G_AB.pt``);
* ``cyclegan_ba_weights``: sick -> healthy generator of the difference-map segmentation
  (default: shipped ``weights/cyclegan_G_BA.pt``);
* ``finetuned_weights``: where the train task writes (default ``<studies>/model/lesion_inpaint_finetuned.pt``);
  the region task uses it as soon as it exists;
* ``feather``: default feather width in pixels (8); ``device``: torch device (default CPU/CUDA).

A task whose weights file does not exist is left out (and logged), as MONAI Label's sample apps
do for models that are not downloaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from monailabel.config import settings
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.train import TrainTask

from monai_gan_aug.label.compat import install_pydicom_compat

install_pydicom_compat()

from monai_gan_aug import __version__  # noqa: E402
from monai_gan_aug.label.infer import DifferenceMapInfer, PneumoniaRegionInfer, TranslationInfer  # noqa: E402
from monai_gan_aug.label.train import LesionFinetuneTrain  # noqa: E402
from monai_gan_aug.utils.weights import WEIGHTS_DIR  # noqa: E402

__all__ = ["GanAugApp", "DATASTORE_EXTENSIONS"]

logger = logging.getLogger(__name__)

#: 2-D radiographs the local datastore lists (MONAI Label's default misses DICOM).
DATASTORE_EXTENSIONS = ("*.png", "*.dcm", "*.jpg", "*.jpeg", "*.tif", "*.tiff")


class GanAugApp(MONAILabelApp):
    """The MONAI Label app.

    Infer tasks ``pneumonia_region``, ``cyclegan`` and ``difference_map``; train task ``lesion_finetune``.
    """

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.device = conf.get("device") or None
        self.feather = float(conf.get("feather", 8))
        self.lesion_weights = Path(conf.get("lesion_weights") or WEIGHTS_DIR / "lesion_inpaint.pt")
        self.opacity_weights = Path(conf.get("opacity_weights") or WEIGHTS_DIR / "lesion_opacity.pt")
        self.cyclegan_weights = Path(conf.get("cyclegan_weights") or WEIGHTS_DIR / "cyclegan_G_AB.pt")
        self.cyclegan_ba_weights = Path(conf.get("cyclegan_ba_weights") or WEIGHTS_DIR / "cyclegan_G_BA.pt")
        default_out = Path(studies) / "model" / "lesion_inpaint_finetuned.pt" if not _is_url(studies) else None
        out = conf.get("finetuned_weights") or default_out
        self.finetuned_weights = Path(out) if out else None
        super().__init__(
            app_dir=app_dir, studies=studies, conf=conf, name="monai-gan-aug",
            description="Paint pneumonia into marked regions of chest X-rays; CycleGAN translation; "
                        "fine-tune the lesion generator on labelled regions",
            version=__version__,
        )

    def init_datastore(self) -> Datastore:
        """A local folder of PNG/DICOM radiographs (labels in ``labels/final``)."""
        if _is_url(self.studies):
            return super().init_datastore()
        return LocalDatastore(
            self.studies, extensions=list(DATASTORE_EXTENSIONS),
            auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD, read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )

    def init_infers(self) -> dict[str, InferTask]:
        infers: dict[str, InferTask] = {}
        region = PneumoniaRegionInfer(self.lesion_weights, finetuned=self.finetuned_weights,
                                      feather=self.feather, device=self.device, opacity_weights=self.opacity_weights)
        if region.is_valid():
            infers["pneumonia_region"] = region
        else:
            logger.warning("pneumonia_region left out: no lesion weights at %s (--conf lesion_weights)",
                           self.lesion_weights)
        if self.cyclegan_weights.is_file():
            infers["cyclegan"] = TranslationInfer(self.cyclegan_weights, device=self.device)
        else:
            logger.warning("cyclegan left out: no weights at %s (--conf cyclegan_weights)", self.cyclegan_weights)
        if self.cyclegan_ba_weights.is_file():
            infers["difference_map"] = DifferenceMapInfer(self.cyclegan_ba_weights, device=self.device)
        else:
            logger.warning("difference_map left out: no weights at %s (--conf cyclegan_ba_weights)",
                           self.cyclegan_ba_weights)
        return infers

    def init_trainers(self) -> dict[str, TrainTask]:
        if self.finetuned_weights is None or not self.lesion_weights.is_file():
            return {}
        return {"lesion_finetune": LesionFinetuneTrain(self.lesion_weights, self.finetuned_weights,
                                                       device=self.device)}

    def init_strategies(self) -> dict[str, Any]:
        from monailabel.tasks.activelearning.first import First
        from monailabel.tasks.activelearning.random import Random

        return {"random": Random(), "first": First()}


def _is_url(studies: str) -> bool:
    return str(studies).startswith(("http://", "https://"))
