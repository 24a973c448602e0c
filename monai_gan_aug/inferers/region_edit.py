"""Region edit: crop a context window around a region, generate a fill, composite, paste back.

Pixels where the feathered region weight is zero are copied from the input unchanged (bit for
bit), whatever the generator does; only the window around the region is ever processed, so any
image size works at constant cost.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from monai.inferers import Inferer
from monai.utils import convert_to_tensor

from ..errors import ConfigError, InvalidImageError, RegionError
from ..transforms.validate import check_image
from ..transforms.window import context_window, crop_to_working, paste_from_working, region_bbox

__all__ = ["RegionEditInferer", "CLASS_HEALTHY", "CLASS_PNEUMONIA"]

CLASS_HEALTHY = 0
CLASS_PNEUMONIA = 1


class RegionEditInferer(Inferer):
    """Fill a region of a radiograph with a class-conditional inpainting generator.

    Args:
        working_size: side of the square window the generator runs at (its training size).
        context: window side / region's longer side (the generator's training range centre).
        min_side: smallest window side in native pixels.
        class_index: what to paint: 1 pneumonia (default), 0 healthy lung.
        detail: share (0-1) of the input's own fine detail added back onto the fill. The generator
            works at ``working_size``, so its fill lacks everything finer than the window's
            resampling (rib edges, lung markings); ``detail`` adds ``detail * (x - up(down(x)))``,
            the part of the input lost by that round trip, inside the region. 0 (default) is the
            plain fill.

    Call as ``inferer(image, network, region_mask, region_weight=None, seed=None)`` with ``image``
    (1, H, W) or (B, 1, H, W) in [0, 1], ``region_mask`` the binary region (same shape) and
    ``region_weight`` its feathered weight (1 inside, 0 beyond the feather band; defaults to the
    mask). Returns the edited image(s), same shape and type, in [0, 1].
    """

    def __init__(self, working_size: int = 128, context: float = 2.0, min_side: int = 64,
                 class_index: int = CLASS_PNEUMONIA, detail: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= float(detail) <= 1.0:
            raise ConfigError(f"detail must lie in [0, 1], got {detail}")
        self.detail = float(detail)
        self.working_size = working_size
        self.context = context
        self.min_side = min_side
        self.class_index = class_index

    @classmethod
    def from_network_info(
        cls, info: Mapping[str, Any] | None, class_index: int = CLASS_PNEUMONIA, detail: float | None = None
    ) -> RegionEditInferer:
        """The inferer a lesion generator was trained for, from its checkpoint's ``info``.

        ``working_size``, ``context``, ``min_side`` and ``detail`` come from ``info`` (defaults 128,
        2.0, 64, 0 when absent); ``detail`` given here overrides the weights' value.
        """
        info = info or {}
        return cls(
            working_size=int(info.get("working_size", 128)), context=float(info.get("context", 2.0)),
            min_side=int(info.get("min_side", 64)), class_index=class_index,
            detail=float(info.get("detail") or 0.0) if detail is None else detail,
        )

    def __call__(  # type: ignore[override]
        self,
        inputs: torch.Tensor,
        network: torch.nn.Module,
        region_mask: torch.Tensor,
        region_weight: torch.Tensor | None = None,
        seed: int | None = None,
        class_index: int | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        image = convert_to_tensor(inputs, track_meta=True)
        mask = convert_to_tensor(region_mask)
        weight = mask if region_weight is None else convert_to_tensor(region_weight)
        batched = image.ndim == 4
        if not batched:
            image, mask, weight = image[None], mask[None], weight[None]
        if image.ndim != 4 or image.shape[1] != 1:
            raise InvalidImageError(f"expected a (1, H, W) or (B, 1, H, W) image, got {tuple(inputs.shape)}")
        if mask.shape != image.shape or weight.shape != image.shape:
            raise RegionError(
                f"region mask {tuple(mask.shape)} / weight {tuple(weight.shape)} do not match image "
                f"{tuple(image.shape)}"
            )
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        cls = self.class_index if class_index is None else class_index
        out = image.clone()
        for b in range(image.shape[0]):
            out[b] = self._edit_one(image[b], mask[b], weight[b], network, generator, cls)
        return out if batched else out[0]

    def _edit_one(self, image: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, network: torch.nn.Module,
                  generator: torch.Generator | None, class_index: int) -> torch.Tensor:
        check_image(image.as_tensor() if hasattr(image, "as_tensor") else image, name="image")
        if float(weight.min()) < 0 or float(weight.max()) > 1:
            raise RegionError("region weight must lie in [0, 1]")
        # The window must hold the feather band too, so it is built around the weight's support.
        window = context_window(region_bbox(weight), image.shape[-2:], self.context, self.min_side)
        plain = image.as_tensor() if hasattr(image, "as_tensor") else image
        win_img, geom = crop_to_working(plain, window, self.working_size)
        win_mask, _ = crop_to_working(mask.float(), window, self.working_size, mode="nearest")
        device = next(network.parameters()).device
        x = (win_img * 2 - 1)[None].to(device)
        m = (win_mask > 0.5).float()[None].to(device)
        noise = torch.randn(x.shape, generator=generator).to(device)
        with torch.inference_mode():
            fill = network(x, m, torch.tensor([class_index], device=device), noise)
        fill01 = ((fill[0].float().cpu() + 1) / 2).clamp(0, 1)
        y0, x0, y1, x1 = geom.y0, geom.x0, geom.y1, geom.x1
        src = plain[:, y0:y1, x0:x1]
        fill_native = paste_from_working(fill01, geom).to(src.device)
        if self.detail > 0:
            # what the working-size round trip removes from the input: its native-resolution detail
            lost_detail = src.float() - paste_from_working(win_img.float(), geom)
            fill_native = (fill_native + self.detail * lost_detail).clamp(0, 1)
        w = weight[:, y0:y1, x0:x1].to(src.dtype)
        blended = src * (1 - w) + fill_native.to(src.dtype) * w
        out = plain.clone()
        # torch.where keeps every zero-weight pixel the input's own value, bit for bit.
        out[:, y0:y1, x0:x1] = torch.where(w > 0, blended, src)
        if hasattr(image, "meta"):
            from monai.data import MetaTensor

            return MetaTensor(out, meta=dict(image.meta))
        return out
