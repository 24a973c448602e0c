"""MONAI Label infer tasks: mark a region -> pneumonia there; CycleGAN translation; difference map.

Both tasks read the image MONAI Label resolved from the datastore (PNG or DICOM), take the region
from the request (see :mod:`monai_gan_aug.label.regions`), run the project's own inferers
(:class:`~monai_gan_aug.inferers.edit.PneumoniaEditor`,
:class:`~monai_gan_aug.inferers.translation.TranslationInferer`) and return an image file of the
input's size. Outputs are PNG (16-bit, or the source's own stored values for PNG sources, so
every pixel outside the region and its feather band is bit-identical to the input file); DICOM
sources get a DICOM output only where pydicom >= 3 is installed (the label environment has 2.4).
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from fastapi import HTTPException
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from .compat import install_pydicom_compat, pydicom_major

install_pydicom_compat()

from ..errors import ConfigError, MonaiGanAugError  # noqa: E402  (after the pydicom shim: io imports pydicom.pixels)
from ..inferers.edit import PneumoniaEditor  # noqa: E402
from ..inferers.region_edit import CLASS_HEALTHY, CLASS_PNEUMONIA  # noqa: E402
from ..inferers.translation import TranslationInferer  # noqa: E402
from ..networks.factory import load_network  # noqa: E402
from ..transforms.io import LoadXRay, SaveXRay  # noqa: E402
from .regions import box_from_request  # noqa: E402

__all__ = ["PneumoniaRegionInfer", "TranslationInfer", "DifferenceMapInfer", "result_path", "user_errors_as_http"]

logger = logging.getLogger(__name__)
_CLASSES = {"pneumonia": CLASS_PNEUMONIA, "healthy": CLASS_HEALTHY, "1": CLASS_PNEUMONIA, "0": CLASS_HEALTHY}


def result_path(image: Any, stem: str) -> Path:
    """A fresh output path for ``image`` (a loaded MetaTensor) in the system temp folder.

    MONAI Label's infer endpoint sends the file back and then deletes it (a background task).
    """
    meta = getattr(image, "meta", {}) or {}
    keep_dicom = meta.get("source_format") == "dicom" and pydicom_major() >= 3
    fd, name = tempfile.mkstemp(prefix=f"{stem}_", suffix=".dcm" if keep_dicom else ".png")
    os.close(fd)
    os.unlink(name)  # SaveXRay refuses to overwrite; it writes atomically to this name
    return Path(name)


def user_errors_as_http(call: Callable) -> Callable:
    """Report the project's user errors (bad region, unreadable image...) as HTTP 400 with the message.

    MONAI Label has no handler for task exceptions: without this the client would only see
    "Internal Server Error".
    """

    @functools.wraps(call)
    def wrapped(self: InferTask, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        try:
            return call(self, request)
        except MonaiGanAugError as e:
            raise HTTPException(status_code=400, detail=f"{type(e).__name__}: {e}") from e

    return wrapped


def _seed(request: dict[str, Any]) -> int | None:
    seed = request.get("seed")
    return None if seed in (None, "") else int(seed)


class PneumoniaRegionInfer(InferTask):
    """Put pneumonia (or healthy lung) into the region the user marked.

    Request params (JSON ``params`` form field): a region (``box``/``roi``/``location`` +
    ``size``/``foreground``), optional ``class`` (``"pneumonia"`` default, or ``"healthy"``),
    ``seed`` and ``feather``.

    Args:
        weights: lesion generator checkpoint (``lesion_generator`` network): healthy-lung fills, and
            pneumonia when no ``opacity_weights`` are given.
        finetuned: optional checkpoint written by the train task; used instead of ``weights``
            (and of ``opacity_weights``) whenever it exists (re-read when it changes).
        opacity_weights: lesion opacity generator for pneumonia (laid over the anatomy in a sampled
            footprint, as ``monai-gan-aug edit`` does); ``None`` or a missing file: ``weights``.
        feather: default feather width in pixels.
        device: torch device.
    """

    def __init__(self, weights: str | os.PathLike, finetuned: str | os.PathLike | None = None,
                 feather: float = 8.0, device: str | None = None,
                 opacity_weights: str | os.PathLike | None = None) -> None:
        super().__init__(
            type=InferType.OTHERS, labels=["pneumonia"], dimension=2,
            description="Mark a region (box, ROI or scribble): the lesion generator paints pneumonia into it",
            config={"class": "pneumonia", "feather": float(feather)},
        )
        self.weights = Path(weights)
        self.finetuned = None if finetuned is None else Path(finetuned)
        self.opacity_weights = None if opacity_weights is None else Path(opacity_weights)
        self.device = device
        self._editors: dict[tuple[str, float, int, float], PneumoniaEditor] = {}

    def current_weights(self, class_index: int = 0) -> Path:
        """The fine-tuned weights if the train task wrote them, else the configured ones of the class."""
        if self.finetuned is not None and self.finetuned.is_file():
            return self.finetuned
        if class_index == 1 and self.opacity_weights is not None and self.opacity_weights.is_file():
            return self.opacity_weights
        return self.weights

    def get_path(self) -> str:
        return str(self.current_weights())

    def is_valid(self) -> bool:
        return self.current_weights().is_file()

    def editor(self, class_index: int, feather: float) -> PneumoniaEditor:
        """A cached editor for the current weights (a new one when the file changed)."""
        path = self.current_weights(class_index)
        key = (str(path), path.stat().st_mtime, class_index, float(feather))
        if key not in self._editors:
            self._editors = {key: PneumoniaEditor(weights=path, device=self.device, feather=feather,
                                                  class_index=class_index, max_fraction=None)}
        return self._editors[key]

    @user_errors_as_http
    def __call__(self, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = str(request.get("class", "pneumonia")).lower()
        if name not in _CLASSES:
            raise ConfigError(f"class must be one of {sorted(_CLASSES)}, got {name!r}")
        box = box_from_request(request)
        feather = float(request.get("feather", self._config["feather"]))
        editor = self.editor(_CLASSES[name], feather)
        image = editor.load(request["image"])
        with torch.no_grad():
            result = editor.edit(image, {"box": box}, seed=_seed(request))
        out = editor.save(result, result_path(image, "pneumonia_edit"))
        logger.info("pneumonia edit of %s in box %s -> %s", request["image"], box, out)
        return str(out), {
            "box": box, "class": name, "seed": result.seed, "synthetic": True,
            "weights": editor.weights_path.name, "feather": feather,
            "description": result.edited.meta.get("derivation_description"),
        }


class TranslationInfer(InferTask):
    """CycleGAN translation (healthy -> pneumonia) of the whole image, or of a marked box.

    Request params: optional region (as for :class:`PneumoniaRegionInfer`; none = whole image),
    ``feather``.

    Args:
        weights: generator checkpoint (e.g. ``cyclegan_G_AB.pt`` from the cyclegan_pneumonia bundle).
        size: working size; default the checkpoint's ``info["image_size"]`` (else 256).
        feather: default feather width in pixels for box edits.
        device: torch device.
    """

    def __init__(self, weights: str | os.PathLike, size: int | None = None, feather: float = 16.0,
                 device: str | None = None) -> None:
        super().__init__(
            type=InferType.OTHERS, labels=["pneumonia"], dimension=2,
            description="CycleGAN translation healthy -> pneumonia (whole image, or only inside a box)",
            config={"feather": float(feather)},
        )
        self.weights = Path(weights)
        self.size = size
        self.device = torch.device(device or "cpu")
        self._net: torch.nn.Module | None = None
        self.loader = LoadXRay()

    def get_path(self) -> str:
        return str(self.weights)

    def is_valid(self) -> bool:
        return self.weights.is_file()

    def network(self) -> torch.nn.Module:
        if self._net is None:
            self._net = load_network(self.weights).to(self.device)
        return self._net

    @user_errors_as_http
    def __call__(self, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        net = self.network()
        size = int(self.size or getattr(net, "info", {}).get("image_size", 256))
        image = self.loader(request["image"])
        has_region = any(request.get(k) not in (None, "", []) for k in ("box", "roi", "location", "foreground"))
        box = box_from_request(request) if has_region else None  # no region: the whole image
        feather = float(request.get("feather", self._config["feather"]))
        inferer = TranslationInferer(size=size, feather=feather)
        with torch.no_grad():
            out = inferer(image.unsqueeze(0).to(self.device), net, box=box)[0].cpu()
        out.meta.update(synthetic=True, derivation_description=(
            f"CycleGAN translation by monai-gan-aug ({self.weights.name})" + (f" in box {box}" if box else "")))
        path = result_path(image, "translation")
        changed = None
        if box is not None:
            from ..inferers.translation import box_weight

            changed = box_weight(image.shape, box, feather) > 0
        SaveXRay(png_bits=16)(out, path, changed_mask=changed)
        return str(path), {"box": box, "size": size, "synthetic": True, "weights": self.weights.name}


class DifferenceMapInfer(InferTask):
    """Lazy pneumonia segmentation: where a sick -> healthy generator changes the lung.

    Runs :class:`~monai_gan_aug.inferers.difference_map.DifferenceMapInferer` and returns an
    8-bit PNG label of the input's size (0 background, 1 pneumonia), for the user to correct and
    save as a label. Request params: ``low``, ``high`` (hysteresis thresholds of the normalised
    map), ``min_size`` (smallest kept component, pixels), ``lung`` (``"auto"``: shipped lung
    network; ``"none"``: whole image).

    Args:
        weights: sick -> healthy generator (e.g. ``cyclegan_G_BA.pt``).
        device: torch device.
    """

    def __init__(self, weights: str | os.PathLike, device: str | None = None) -> None:
        super().__init__(
            type=InferType.SEGMENTATION, labels={"pneumonia": 1}, dimension=2,
            description="Pneumonia mask from the difference between the image and its CycleGAN healthy twin",
            config={"low": 0.3, "high": 0.8, "min_size": 20, "lung": "auto"},
        )
        self.weights = Path(weights)
        self.device = torch.device(device or "cpu")
        self._net: torch.nn.Module | None = None
        self.loader = LoadXRay()

    def get_path(self) -> str:
        return str(self.weights)

    def is_valid(self) -> bool:
        return self.weights.is_file()

    @user_errors_as_http
    def __call__(self, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        from PIL import Image

        from ..inferers.difference_map import DifferenceMapInferer, load_sick_to_healthy

        if self._net is None:
            self._net = load_sick_to_healthy(self.weights, device=self.device)
        opts = {k: request.get(k, v) for k, v in self._config.items()}
        lung = None if str(opts["lung"]).lower() in ("none", "false", "") else "auto"
        inferer = DifferenceMapInferer(low=float(opts["low"]), high=float(opts["high"]),
                                       min_size=int(opts["min_size"]), lung=lung)
        image = self.loader(request["image"])
        mask = inferer(image.unsqueeze(0).to(self.device), self._net)[0, 0].detach().cpu().numpy()
        fd, name = tempfile.mkstemp(prefix="difference_map_", suffix=".png")
        os.close(fd)
        Image.fromarray((mask > 0.5).astype("uint8")).save(name)
        return name, {"label_names": {"pneumonia": 1}, "pixels": int((mask > 0.5).sum()),
                      "weights": self.weights.name, **opts}
