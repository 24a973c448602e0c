"""MONAI Label train task: fine-tune the lesion generator on the datastore's labelled regions.

Label masks saved in the datastore (``labels/final``) mark regions by value: 1 pneumonia,
2 healthy lung (:data:`~monai_gan_aug.label.regions.LABEL_CLASSES`). Each labelled value of each
image becomes one training region (its bounding box) for
:class:`~monai_gan_aug.engines.lesion.LesionInpaintTrainer`, with the project's own training
transforms (:func:`~monai_gan_aug.data.lesion.lesion_train_transforms`). The generator starts from
the configured weights, a fresh discriminator learns beside it, and the result is written as a
self-describing checkpoint that the ``pneumonia_region`` infer task picks up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.train import TrainTask

from .compat import install_pydicom_compat

install_pydicom_compat()

from ..data.lesion import lesion_train_transforms  # noqa: E402
from ..engines.lesion import LesionInpaintTrainer  # noqa: E402
from ..engines.schedulers import build_adam  # noqa: E402
from ..errors import DatasetError  # noqa: E402
from ..networks.factory import load_network, save_network  # noqa: E402
from ..networks.lesion_generator import LesionDiscriminator  # noqa: E402
from ..utils.checkpoint import load_checkpoint  # noqa: E402
from .regions import regions_from_label  # noqa: E402

__all__ = ["LesionFinetuneTrain", "read_label", "region_items"]

logger = logging.getLogger(__name__)


def read_label(path: str | os.PathLike) -> np.ndarray:
    """A 2-D label mask (rows, columns) from PNG/TIFF (Pillow) or any format MONAI reads."""
    path = Path(path)
    if path.suffix.lower() in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"):
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im)
    from monai.transforms import LoadImage

    arr = np.asarray(LoadImage(image_only=True)(str(path)))
    return np.squeeze(arr).T  # MONAI reads (x, y); labels are compared with (row, col) images


def region_items(datalist: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Training items ``{"image", "class_index", "region": {"box"}}``, one per labelled region."""
    items = []
    for entry in datalist:
        if not entry.get("label"):
            continue
        for box, cls in regions_from_label(read_label(entry["label"])):
            items.append({"image": entry["image"], "class_index": cls, "region": {"box": box}})
    return items


class LesionFinetuneTrain(TrainTask):
    """Fine-tune the lesion generator on labelled regions (label 1 pneumonia, 2 healthy lung).

    Request options: ``max_epochs`` (1), ``batch_size`` (4), ``lr`` (1e-4), ``seed`` (0),
    ``num_threads`` (torch threads, 1).

    Args:
        weights: the lesion generator to start from.
        output: where the fine-tuned generator is written (atomically).
        device: torch device (default CPU).
    """

    def __init__(self, weights: str | os.PathLike, output: str | os.PathLike, device: str | None = None) -> None:
        super().__init__("Fine-tune the lesion generator on labelled regions (1 pneumonia, 2 healthy lung)")
        self.weights = Path(weights)
        self.output = Path(output)
        self.device = torch.device(device or "cpu")
        self._config = {"max_epochs": 1, "batch_size": 4, "lr": 1e-4, "seed": 0, "num_threads": 1}
        self._stats: dict[str, Any] = {}
        self._lock = threading.Lock()

    def config(self) -> dict[str, Any]:
        return self._config

    def stats(self) -> dict[str, Any]:
        return dict(self._stats)

    def _start_weights(self) -> Path:
        """Continue from an earlier fine-tuning if there is one."""
        return self.output if self.output.is_file() else self.weights

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        opts = {**self._config, **{k: request[k] for k in self._config if k in request}}
        items = region_items(datastore.datalist())
        if not items:
            raise DatasetError("no labelled regions in the datastore (label 1 = pneumonia, 2 = healthy lung)")
        with self._lock:
            return self._train(items, opts)

    def _train(self, items: list[dict[str, Any]], opts: dict[str, Any]) -> dict[str, Any]:
        from monai.data import DataLoader, Dataset
        from monai.utils import set_determinism

        torch.set_num_threads(int(opts["num_threads"]))
        set_determinism(seed=int(opts["seed"]))
        start = self._start_weights()
        ckpt = load_checkpoint(start)
        generator = load_network(start).train().to(self.device)
        info = dict(ckpt.get("info", {}))
        size = int(info.get("working_size", 128))
        discriminator = LesionDiscriminator(ndf=int(info.get("ndf", 32)), n_layers=3, num_classes=2).to(self.device)
        batch = max(1, min(int(opts["batch_size"]), len(items)))
        loader = DataLoader(Dataset(items, lesion_train_transforms(size)), batch_size=batch, shuffle=True,
                            drop_last=True, num_workers=0)
        trainer = LesionInpaintTrainer(
            device=self.device, max_epochs=int(opts["max_epochs"]), train_data_loader=loader,
            generator=generator, discriminator=discriminator,
            g_optimizer=build_adam(generator, lr=float(opts["lr"])),
            d_optimizer=build_adam(discriminator, lr=float(opts["lr"])),
        )
        t0 = time.time()
        trainer.run()
        out = dict(trainer.state.output or {})
        info.update(finetuned_from=start.name, finetune_regions=len(items),
                    finetune_iterations=int(trainer.state.iteration), finetune_epochs=int(opts["max_epochs"]))
        save_network(generator, ckpt["network"], ckpt["network_kwargs"], self.output, info=info)
        self._stats = {
            "total_time": round(time.time() - t0, 2), "regions": len(items), "iterations": trainer.state.iteration,
            "epochs": int(opts["max_epochs"]), "output": str(self.output),
            "last_losses": {k: float(v) for k, v in out.items() if isinstance(v, (int, float, torch.Tensor))},
        }
        logger.info("lesion fine-tuning done: %s", self._stats)
        return self.stats()
