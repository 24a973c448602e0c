"""Opacity edit: lay a generated pneumonia opacity over the anatomy inside a lesion footprint.

The headline's pneumonia path. Given a radiograph, a user's region and (optionally) an exact
lesion footprint inside it:

1. a footprint is sampled inside the region when none is given
   (:func:`monai_gan_aug.transforms.footprint.sample_footprint`: irregular, patchy, learnt from
   real infection masks), so the lesion does not take the box's shape;
2. a window around the footprint is resampled to the *reference scale* the generator was trained
   at (films of :data:`~monai_gan_aug.data.opacity.REFERENCE_SIDE` px; with a lung mask, lungs of
   :data:`REFERENCE_LUNG_HEIGHT` px), so a 256 px film, a 512 px film and a 2,000 px DICOM get
   lesions of the same anatomical size and texture;
3. the generator returns a non-negative density there, which is brought back to native
   resolution, limited to the footprint's soft edge and the region's feathered weight, and laid
   over the native pixels with :func:`~monai_gan_aug.transforms.opacity.add_opacity`: the input's
   own ribs and vessels stay visible at full resolution wherever the opacity is not dense.

Pixels where the density is zero (everything outside the footprint's soft edge, and always
everything outside the region's feather band) are the input's, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.inferers import Inferer
from monai.utils import convert_to_tensor

from ..data.opacity import REFERENCE_SIDE, soft_edge
from ..errors import InvalidImageError, RegionError
from ..transforms.opacity import add_opacity
from ..transforms.validate import check_image
from ..transforms.window import context_window, crop_to_working, paste_from_working, region_bbox

__all__ = ["LesionOpacityInferer", "REFERENCE_LUNG_HEIGHT", "edit_lesion", "reference_scale"]

#: Median lung-field height (bounding box, px) of the covidqu training films at REFERENCE_SIDE px.
REFERENCE_LUNG_HEIGHT = 176


def reference_scale(image_hw: tuple[int, int], lung: torch.Tensor | np.ndarray | None = None) -> float:
    """Native px -> reference px: by the lung's height when a lung mask is given, else by the film's side."""
    if lung is not None:
        m = np.asarray(convert_to_tensor(lung).detach().cpu()).reshape(image_hw) > 0
        rows = np.nonzero(m.any(1))[0]
        if rows.size >= 8:
            return REFERENCE_LUNG_HEIGHT / float(rows[-1] - rows[0] + 1)
    return REFERENCE_SIDE / float(max(image_hw))


def _shrink(region: np.ndarray, pixels: int) -> np.ndarray:
    """``region`` eroded by ``pixels`` (a square structuring element: fast for large images)."""
    from scipy import ndimage

    if pixels <= 0:
        return region
    return ndimage.binary_erosion(region, structure=np.ones((3, 3), bool), iterations=pixels)


def _soft_edge_near(footprint: np.ndarray, sigma: float) -> np.ndarray:
    """:func:`soft_edge` of the whole image, computed only around the footprint (what it can reach)."""
    ys, xs = np.nonzero(footprint)
    pad = int(math.ceil(4 * sigma)) + 1
    y0, y1 = max(0, ys.min() - pad), min(footprint.shape[0], ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(footprint.shape[1], xs.max() + 1 + pad)
    out = np.zeros(footprint.shape, np.float32)
    out[y0:y1, x0:x1] = soft_edge(footprint[y0:y1, x0:x1], sigma)
    return out


class LesionOpacityInferer(Inferer):
    """Add a generated opacity inside a lesion footprint; see the module docstring.

    Args:
        window: smallest window side at the reference scale (the training window, 128 px).
        context: window side / footprint's longer side.
        edge_sigma: soft edge of the footprint at the reference scale (px), as in training.
        density_scale: multiplies the generated density (1: as trained; < 1 fainter, > 1 denser).
        extent: how much of the region a sampled footprint spans: ``"loose"`` (default: the region
            marks where the disease may go) or ``"tight"`` (a box drawn around a lesion, as the
            covidqu component boxes and radiologist boxes are), or a ``(low, high)`` range
            (:func:`~monai_gan_aug.transforms.footprint.resolve_extent`).

    Call as ``inferer(image, network, region_mask, region_weight=None, footprint=None, seed=None,
    lung=None, extent=None)`` (``extent`` overrides the inferer's for one call) with ``image`` (1, H, W) in [0, 1]; returns ``(edited, footprint)``: the edited
    image (same type, metadata kept) and the binary footprint used (1, H, W): the exact
    segmentation label of the synthetic lesion.
    """

    def __init__(self, window: int = 128, context: float = 1.25, edge_sigma: float = 2.0,
                 density_scale: float = 1.0, extent: str | float | Sequence[float] | None = None) -> None:
        from ..transforms.footprint import resolve_extent

        super().__init__()
        if window < 16 or context < 1 or edge_sigma < 0 or density_scale < 0:
            raise RegionError(f"bad opacity inferer settings: window {window}, context {context}, "
                              f"edge_sigma {edge_sigma}, density_scale {density_scale}")
        self.window, self.context = int(window), float(context)
        self.edge_sigma, self.density_scale = float(edge_sigma), float(density_scale)
        self.extent = resolve_extent(extent)

    @classmethod
    def from_network_info(cls, info: Mapping[str, Any] | None, density_scale: float = 1.0,
                          extent: str | float | Sequence[float] | None = None) -> LesionOpacityInferer:
        """The inferer an opacity generator was trained for, from its checkpoint's ``info``."""
        info = info or {}
        return cls(window=int(info.get("window", 128)), edge_sigma=float(info.get("edge_sigma", 2.0)),
                   density_scale=density_scale, extent=extent)

    def __call__(  # type: ignore[override]
        self,
        inputs: torch.Tensor,
        network: torch.nn.Module,
        region_mask: torch.Tensor,
        region_weight: torch.Tensor | None = None,
        footprint: torch.Tensor | np.ndarray | None = None,
        seed: int | None = None,
        lung: torch.Tensor | np.ndarray | None = None,
        extent: str | float | Sequence[float] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image = convert_to_tensor(inputs, track_meta=True)
        if image.ndim != 3 or image.shape[0] != 1:
            raise InvalidImageError(f"expected a (1, H, W) image, got {tuple(inputs.shape)}")
        plain = image.as_tensor() if hasattr(image, "as_tensor") else image
        check_image(plain, name="image")
        mask = convert_to_tensor(region_mask).reshape(plain.shape) > 0
        weight = mask.float() if region_weight is None else convert_to_tensor(region_weight).reshape(plain.shape)
        if not bool(mask.any()):
            raise RegionError("the region mask is empty: nothing to edit")
        rng = np.random.default_rng(seed)
        scale = reference_scale(tuple(plain.shape[-2:]), lung)
        if footprint is None:
            from ..transforms.footprint import sample_footprint  # local: the shape prior loads on first use

            # Sample inside the region shrunk by the soft edge's reach, so that the opacity fades out
            # inside the region instead of being cut along the region's outline (a seam tracing the box).
            region = mask[0].cpu().numpy()
            inner = _shrink(region, int(math.ceil(3 * self.edge_sigma / scale)) + 2)
            fp = sample_footprint(inner if inner.sum() >= 16 else region, rng,
                                  extent=self.extent if extent is None else extent)
        else:
            fp = np.asarray(convert_to_tensor(footprint).detach().cpu()).reshape(plain.shape[-2:]) > 0
        fp = fp & (weight[0].cpu().numpy() > 0)
        if not fp.any():
            raise RegionError("the lesion footprint is empty inside the region")

        alpha = torch.from_numpy(_soft_edge_near(fp, self.edge_sigma / scale))[None]
        alpha = alpha * weight.float().cpu()  # never beyond the region's feather band
        win = context_window(region_bbox(alpha), plain.shape[-2:], self.context, int(math.ceil(self.window / scale)))
        side_native = max(win[2] - win[0], win[3] - win[1])
        size = max(self.window, int(math.ceil(side_native * scale / 16.0)) * 16)
        x_ref, geom = crop_to_working(plain.float(), win, size)
        a_ref, _ = crop_to_working(alpha, win, size)
        device = next(network.parameters()).device
        noise = torch.from_numpy(rng.standard_normal((1, 1, size, size)).astype(np.float32)).to(device)
        with torch.inference_mode():
            dens = network((x_ref * 2 - 1)[None].to(device), a_ref.clamp(0, 1)[None].to(device), noise)
        dens = dens[0].float().cpu() * self.density_scale
        y0, x0, y1, x1 = geom.y0, geom.x0, geom.y1, geom.x1
        dens_native = paste_from_working(dens, geom).clamp_min(0) * (alpha[:, y0:y1, x0:x1] > 0)
        out = plain.clone()
        src = plain[:, y0:y1, x0:x1]
        out[:, y0:y1, x0:x1] = add_opacity(src, dens_native.to(src.device))
        footprint_t = torch.from_numpy(fp)[None].to(torch.uint8)
        if hasattr(image, "meta"):
            from monai.data import MetaTensor

            return MetaTensor(out, meta=dict(image.meta)), footprint_t
        return out, footprint_t


def edit_lesion(
    image: torch.Tensor,
    network: torch.nn.Module,
    region_mask: torch.Tensor,
    region_weight: torch.Tensor | None = None,
    class_index: int = 1,
    seed: int | None = None,
    footprint: torch.Tensor | np.ndarray | None = None,
    lung: torch.Tensor | np.ndarray | None = None,
    detail: float | None = None,
    density_scale: float = 1.0,
    inferer: Inferer | None = None,
    extent: str | float | Sequence[float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One region edit with whichever lesion model ``network`` is: the single door of every front end.

    A :class:`~monai_gan_aug.networks.opacity_generator.LesionOpacityGenerator` adds pneumonia
    over the anatomy inside a footprint (:class:`LesionOpacityInferer`; pneumonia only); a
    :class:`~monai_gan_aug.networks.lesion_generator.LesionInpaintGenerator` repaints the region
    (:class:`~monai_gan_aug.inferers.region_edit.RegionEditInferer`; healthy lung or pneumonia).
    ``inferer``: a caller that keeps one (e.g. :class:`~monai_gan_aug.inferers.edit.PneumoniaEditor`)
    passes it; otherwise it is built from the network's ``info`` with ``detail`` / ``density_scale``.
    ``extent`` (opacity edits with a sampled footprint): ``"loose"``/``"tight"`` box or a range,
    ``None``: the inferer's own (``"loose"`` unless it was built otherwise).

    Returns:
        ``(edited, label)``: the edited (1, H, W) image and the exact segmentation label of what
        was painted, (1, H, W) uint8: the footprint for an opacity edit, the region for a repaint.
    """
    from ..networks.opacity_generator import LesionOpacityGenerator

    info = getattr(network, "info", None)
    if isinstance(network, LesionOpacityGenerator):
        if class_index != 1:
            raise RegionError("an opacity generator only adds pneumonia; use a lesion_inpaint checkpoint "
                              "for healthy-lung fills")
        inferer = inferer or LesionOpacityInferer.from_network_info(info, density_scale=density_scale)
        return inferer(image, network, region_mask, region_weight, footprint=footprint, seed=seed, lung=lung,
                       extent=extent)
    from .region_edit import RegionEditInferer

    inferer = inferer or RegionEditInferer.from_network_info(info, class_index=class_index, detail=detail)
    edited = inferer(image, network, region_mask, region_weight, seed=seed, class_index=class_index)
    label = (convert_to_tensor(region_mask) > 0).to(torch.uint8).reshape(image.shape)
    return edited, label
