"""GAN augmentation inside MONAI training pipelines, label consistent.

With probability ``prob`` an image is replaced or edited by a generator's output, and its labels
are changed to match what the generator did:

* ``mode="translate"``: a healthy image (class 0) is translated to pneumonia by the CycleGAN
  ``G_AB`` (:class:`~monai_gan_aug.inferers.translation.TranslationInferer`, any image size); its
  class becomes 1. Pneumonia images are left alone (there is nothing to translate). A segmentation
  label cannot follow a whole-image translation (where the lesions are is unknown), so
  ``seg_key`` is refused in this mode.
* ``mode="lesion"``: pneumonia is painted into a region drawn by
  :class:`~monai_gan_aug.transforms.region.RandRegionMask` (steered by a lung mask when given) with
  the pieces of :class:`~monai_gan_aug.inferers.edit.PneumoniaEditor`: the ``lesion_generator``
  network and :func:`~monai_gan_aug.inferers.opacity_edit.edit_lesion`. With the default opacity
  generator a lesion footprint is sampled inside the region and the opacity is laid over the
  anatomy there. The class becomes 1 and the footprint (the exact label of the synthetic lesion)
  is added to the segmentation label.

Generators are loaded once per (file, device) and cached, and run on the training device. What was
done is recorded in the image's metadata under ``meta["gan_augment"]`` as a JSON string (generator
file, its sha256 prefix, seed, region), a string so that MONAI's collate can batch augmented and
untouched samples together; ``meta["synthetic"]`` is True for generated images.

:class:`GANAugment` is the deterministic transform (given seed and region), :class:`RandGANAugment`
the random array twin and :class:`RandGANAugmentd` the dictionary transform (TorchIO's
``RandomNoise`` -> ``Noise`` pattern, as in ``region.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type

from ..errors import ConfigError, InvalidImageError, RegionError
from ..networks.factory import load_network
from ..networks.lesion_generator import LesionInpaintGenerator
from ..networks.opacity_generator import LesionOpacityGenerator
from ..utils.device import default_device
from ..utils.weights import shipped_weights_path
from .region import RandRegionMask

__all__ = [
    "CLASS_HEALTHY",
    "CLASS_PNEUMONIA",
    "DEFAULT_WEIGHTS",
    "MODES",
    "GANAugment",
    "RandGANAugment",
    "RandGANAugmentD",
    "RandGANAugmentDict",
    "RandGANAugmentd",
    "load_generator",
    "weights_fingerprint",
]

MODES = ("translate", "lesion")
#: Shipped weights used when none are given, per mode.
DEFAULT_WEIGHTS = {"translate": "cyclegan_G_AB.pt", "lesion": "lesion_opacity.pt"}
CLASS_HEALTHY = 0
CLASS_PNEUMONIA = 1
_EXPECTED_NETWORKS = {"translate": ("resnet_generator", "unet_generator"), "lesion": ("lesion_generator", "lesion_opacity_generator")}
_SEED_RANGE = 2**31 - 1

_CACHE: dict[tuple[str, str], tuple[torch.nn.Module, str]] = {}
_CACHE_LOCK = threading.Lock()


def weights_fingerprint(path: str | os.PathLike, length: int = 12) -> str:
    """First ``length`` hex digits of the file's sha256: names the exact weights an output came from."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def load_generator(
    weights: str | os.PathLike, device: str | torch.device | None = None
) -> tuple[torch.nn.Module, str]:
    """Load a self-describing generator once per (file, device), eval mode; returns ``(network, sha256 prefix)``.

    Raises:
        MissingWeightsError / CheckpointError: see :func:`monai_gan_aug.networks.factory.load_network`.
    """
    dev = default_device(device)
    path = Path(weights)
    key = (str(path.resolve()), str(dev))
    with _CACHE_LOCK:
        if key not in _CACHE:
            net = load_network(path, map_location=dev).to(dev).eval()
            _CACHE[key] = (net, weights_fingerprint(path))
        return _CACHE[key]


def _check_image(img: Any) -> None:
    if not isinstance(img, (np.ndarray, torch.Tensor)):
        raise InvalidImageError(f"expected a numpy array or torch tensor image, found {type(img).__name__}")
    if img.ndim != 3 or img.shape[0] != 1:
        raise InvalidImageError(
            f"expected a channel-first (1, H, W) radiograph, found shape {tuple(img.shape)}"
        )


class GANAugment(Transform):
    """Replace (``translate``) or edit (``lesion``) one ``(1, H, W)`` ``[0, 1]`` image with a generator.

    Args:
        mode: ``"translate"`` or ``"lesion"`` (see the module docstring).
        weights: generator checkpoint (``networks.factory`` format); ``None``: the shipped
            :data:`DEFAULT_WEIGHTS` of the mode. Loaded at the first call, then cached.
        device: device to run the generator on (default: CUDA if available, else CPU).
        size: working size for ``translate`` (default ``info["image_size"]`` of the checkpoint).
        class_index: class painted by ``lesion`` (1 pneumonia).

    ``transform(img, region_mask=None, region_weight=None, seed=None, lung=None)`` returns the new
    image (a ``MetaTensor`` with the input's metadata, ``synthetic=True`` and ``gan_augment``);
    ``lesion`` needs ``region_mask`` (binary, image size) and optionally its feathered
    ``region_weight`` and a ``lung`` mask (sets the lesion's scale). After a ``lesion`` edit,
    :attr:`label` holds the exact (1, H, W) label of what was painted: the sampled lesion footprint
    of an opacity generator, the region of a repainting one.
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        mode: str = "translate",
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        size: int | None = None,
        class_index: int = CLASS_PNEUMONIA,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, found {mode!r}")
        if size is not None and int(size) < 8:
            raise ConfigError(f"size must be >= 8, found {size}")
        self.mode = mode
        self.weights = Path(weights) if weights is not None else None
        self.device = device
        self.size = size
        self.class_index = class_index
        self.label: torch.Tensor | None = None

    @property
    def weights_path(self) -> Path:
        """The checkpoint used (resolving the shipped default; MissingWeightsError if absent)."""
        return self.weights if self.weights is not None else shipped_weights_path(DEFAULT_WEIGHTS[self.mode])

    def generator(self) -> tuple[torch.nn.Module, str]:
        """The cached ``(network, sha256 prefix)``; checks the checkpoint fits the mode."""
        net, sha = load_generator(self.weights_path, self.device)
        is_lesion = isinstance(net, (LesionInpaintGenerator, LesionOpacityGenerator))
        if self.mode == "lesion" and not is_lesion:
            raise ConfigError(
                f"mode 'lesion' needs a lesion_generator checkpoint, {self.weights_path} holds "
                f"a {type(net).__name__}"
            )
        if self.mode == "translate" and is_lesion:
            raise ConfigError(
                f"mode 'translate' needs an image-to-image generator (CycleGAN G_AB), "
                f"{self.weights_path} holds a lesion_generator"
            )
        return net, sha

    def record(self, seed: int | None, region: Mapping[str, Any] | None, sha: str) -> dict[str, Any]:
        """The plain-values description written to ``meta["gan_augment"]``."""
        return {
            "applied": True,
            "mode": self.mode,
            "generator": self.weights_path.name,
            "generator_sha256": sha,
            "seed": seed,
            "region": dict(region) if region is not None else None,
        }

    def __call__(
        self,
        img: NdarrayOrTensor,
        region_mask: NdarrayOrTensor | None = None,
        region_weight: NdarrayOrTensor | None = None,
        seed: int | None = None,
        lung: NdarrayOrTensor | None = None,
    ) -> MetaTensor:
        _check_image(img)
        image = img if isinstance(img, MetaTensor) else MetaTensor(torch.as_tensor(img))
        net, sha = self.generator()
        region = None
        self.label = None
        if self.mode == "translate":
            out = self._translate(image, net)
        else:
            if region_mask is None:
                raise RegionError("mode 'lesion' needs a region_mask (e.g. from RandRegionMask)")
            out, self.label = self._lesion(image, net, region_mask, region_weight, seed, lung)
            region = getattr(region_mask, "meta", {}).get("region") or image.meta.get("region")
        out = out if isinstance(out, MetaTensor) else MetaTensor(out, meta=dict(image.meta))
        out.meta["synthetic"] = True
        out.meta["gan_augment"] = json.dumps(self.record(seed, region, sha))
        converted, *_ = convert_to_dst_type(out, img)
        return converted

    def _translate(self, image: MetaTensor, net: torch.nn.Module) -> torch.Tensor:
        from ..inferers.translation import TranslationInferer  # inferers import transforms: import late

        info = getattr(net, "info", {}) or {}
        size = int(self.size or info.get("image_size", 256))
        with torch.inference_mode():
            out = TranslationInferer(size=size, detail_preserving=True)(image[None].float(), net)[0]
        return out.clone()  # leave inference mode: training pipelines may autograd through later ops

    def _lesion(
        self,
        image: MetaTensor,
        net: torch.nn.Module,
        mask: NdarrayOrTensor,
        weight: NdarrayOrTensor | None,
        seed: int | None,
        lung: NdarrayOrTensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        from ..inferers.opacity_edit import edit_lesion

        m = torch.as_tensor(np.asarray(mask) if isinstance(mask, np.ndarray) else mask).float()
        w = (
            m
            if weight is None
            else torch.as_tensor(np.asarray(weight) if isinstance(weight, np.ndarray) else weight).float()
        )
        out, label = edit_lesion(
            image.float(),
            net,
            m.as_tensor() if isinstance(m, MetaTensor) else m,
            w.as_tensor() if isinstance(w, MetaTensor) else w,
            class_index=self.class_index,
            seed=seed,
            lung=lung,
        )
        return out.clone(), label


class RandGANAugment(RandomizableTransform):
    """With probability ``prob``, apply :class:`GANAugment` with a drawn seed (and region for ``lesion``).

    Args:
        prob: probability of augmenting an image.
        mode, weights, device, size: see :class:`GANAugment`.
        feather: blend band (pixels) of ``lesion`` regions.
        num_boxes: boxes per ``lesion`` region (an int or ``"prior"``), see :class:`RandRegionMask`.
        min_lung_overlap: fraction of a drawn box that must lie in the lung (when a lung mask is given).

    ``transform(img, lung=None)`` returns the (possibly) augmented image; after a ``lesion`` edit
    :attr:`region_mask` holds the drawn binary region (``None`` otherwise). Images that were not
    augmented get ``meta["gan_augment"]`` with ``"applied": false`` too, so batches collate.
    :attr:`label` holds the exact label of what was painted (the lesion footprint of an opacity
    generator, the region of a repainting one), ``None`` when nothing was painted.
    """

    backend = GANAugment.backend

    def __init__(
        self,
        prob: float = 0.5,
        mode: str = "translate",
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        size: int | None = None,
        feather: float = 8,
        num_boxes: int | str = 1,
        min_lung_overlap: float = 0.5,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.augment = GANAugment(mode, weights, device, size)
        self.rand_region = RandRegionMask(
            num_boxes=num_boxes, min_lung_overlap=min_lung_overlap, clip_to_lung=True, feather=feather
        )
        self.seed: int | None = None
        self.region_mask: NdarrayOrTensor | None = None
        self.label: torch.Tensor | None = None

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self.seed = int(self.R.randint(0, _SEED_RANGE)) if self._do_transform else None

    def __call__(
        self, img: NdarrayOrTensor, lung: NdarrayOrTensor | None = None, randomize: bool = True
    ) -> NdarrayOrTensor:
        _check_image(img)
        if randomize:
            self.randomize()
        self.region_mask = None
        self.label = None
        if not self._do_transform:
            return _mark_untouched(img, self.augment.mode)
        if self.augment.mode == "translate":
            return self.augment(img, seed=self.seed)
        # the region is drawn from the same seed, so (seed, weights) reproduce the whole edit
        self.rand_region.set_random_state(seed=self.seed)
        image = img if isinstance(img, MetaTensor) else MetaTensor(torch.as_tensor(img))
        mask, weight = self.rand_region(image, lung=lung)
        self.region_mask = mask
        out = self.augment(image, mask, weight, seed=self.seed, lung=lung)
        self.label = self.augment.label
        return out


def _mark_untouched(img: NdarrayOrTensor, mode: str) -> NdarrayOrTensor:
    if isinstance(img, MetaTensor):
        img.meta.setdefault("synthetic", False)
        img.meta["gan_augment"] = json.dumps({"applied": False, "mode": mode})
    return img


def _class_of(label: Any) -> int:
    """Class index of a scalar label (int, float, 0-d / 1-element array or tensor) or a 2-class one-hot."""
    arr = label.detach().cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
    if arr.size == 1:
        return round(float(arr.reshape(-1)[0]))
    if arr.ndim == 1 and arr.size == 2:
        return int(np.argmax(arr))
    raise ConfigError(
        f"cannot read a class from label {label!r}: expected a scalar or a 2-class one-hot vector"
    )


def _with_class(label: Any, cls: int) -> Any:
    """``label`` set to class ``cls``, keeping its type, shape and dtype."""
    if isinstance(label, (bool, int, float, np.integer, np.floating)) and not isinstance(label, np.ndarray):
        return type(label)(cls)
    arr = label.detach().cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
    new = np.full(arr.shape, cls, dtype=arr.dtype) if arr.size == 1 else np.eye(2, dtype=arr.dtype)[cls]
    out, *_ = convert_to_dst_type(new, label)
    return out


def _add_region(seg: Any, region: NdarrayOrTensor, value: float) -> Any:
    s = seg.detach().cpu().numpy() if isinstance(seg, torch.Tensor) else np.asarray(seg)
    r = np.asarray(region.detach().cpu() if isinstance(region, torch.Tensor) else region) > 0
    if s.shape[-2:] != r.shape[-2:]:
        raise RegionError(f"segmentation label {s.shape} does not match the image grid {r.shape}")
    new = np.where(r.reshape(s.shape) if s.shape == r.shape else r[0], np.maximum(s, value), s).astype(
        s.dtype
    )
    out, *_ = convert_to_dst_type(new, seg)
    return out


class RandGANAugmentd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandGANAugment` that keeps the labels consistent.

    Args:
        keys: image key(s); all get the same decision and seed (usually just ``"image"``).
        prob, mode, weights, device, size, feather, num_boxes, min_lung_overlap: see :class:`RandGANAugment`.
        label_key: class label key (``None``: no class label). ``translate`` only augments samples of
            class ``0`` and sets them to ``1``; ``lesion`` sets ``1``.
        seg_key: segmentation label key that ``lesion`` adds the exact label of what it painted to
            (with ``seg_value``): the lesion footprint of an opacity generator (the default
            weights), the region of a repainting one; refused with ``translate``.
        seg_value: label value of the inserted lesion in ``seg_key``.
        lung_key: lung mask key steering (and clipping) ``lesion`` regions.
        allow_missing_keys: don't raise when an image key is missing.
    """

    backend = RandGANAugment.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        prob: float = 0.5,
        mode: str = "translate",
        weights: str | os.PathLike | None = None,
        label_key: str | None = "label",
        seg_key: str | None = None,
        seg_value: float = 1.0,
        lung_key: str | None = None,
        device: str | torch.device | None = None,
        size: int | None = None,
        feather: float = 8,
        num_boxes: int | str = 1,
        min_lung_overlap: float = 0.5,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if mode == "translate" and seg_key is not None:
            raise ConfigError(
                "mode 'translate' cannot keep a segmentation label consistent (it does not know where "
                "the lesions are): use mode 'lesion' with seg_key, or drop seg_key"
            )
        self.rand_augment = RandGANAugment(
            1.0, mode, weights, device, size, feather, num_boxes, min_lung_overlap
        )
        self.label_key, self.seg_key, self.seg_value, self.lung_key = label_key, seg_key, seg_value, lung_key

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandGANAugmentd:
        super().set_random_state(seed, state)
        self.rand_augment.set_random_state(seed, state)
        return self

    def _eligible(self, d: Mapping[Hashable, Any]) -> bool:
        """``translate`` turns healthy into pneumonia only: other classes are left as they are."""
        if self.rand_augment.augment.mode != "translate" or self.label_key is None:
            return True
        if self.label_key not in d:
            raise ConfigError(
                f"label_key {self.label_key!r} not in the data (keys: {list(d)}); pass label_key=None "
                "to translate every image"
            )
        return _class_of(d[self.label_key]) == CLASS_HEALTHY

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        do = self._do_transform and self._eligible(d)
        lung = d.get(self.lung_key) if self.lung_key is not None else None
        if self.lung_key is not None and lung is None and do:
            raise ConfigError(f"lung_key {self.lung_key!r} not in the data (keys: {list(d)})")
        mode = self.rand_augment.augment.mode
        first = True
        for key in self.key_iterator(d):
            if not do:
                d[key] = _mark_untouched(d[key], mode)
                continue
            # one draw per sample: later keys reuse the first key's seed and region
            self.rand_augment._do_transform = True
            if first:
                self.rand_augment.seed = int(self.R.randint(0, _SEED_RANGE))
            d[key] = self.rand_augment(d[key], lung=lung, randomize=False)
            first = False
        if do and not first:
            if self.label_key is not None and self.label_key in d:
                d[self.label_key] = _with_class(d[self.label_key], CLASS_PNEUMONIA)
            if self.seg_key is not None and self.rand_augment.label is not None:
                if self.seg_key not in d:
                    raise ConfigError(f"seg_key {self.seg_key!r} not in the data (keys: {list(d)})")
                d[self.seg_key] = _add_region(d[self.seg_key], self.rand_augment.label, self.seg_value)
        return d


RandGANAugmentD = RandGANAugmentDict = RandGANAugmentd
