"""Additive lesion opacity: what pneumonia adds to a radiograph, laid over the anatomy.

On a projection radiograph a consolidation or ground-glass opacity is extra attenuation along the
rays that cross it. With the image in ``[0, 1]``, air dark (MONOCHROME2 sense), ``1 - x`` behaves
like the transmitted fraction of the beam; an extra attenuation (optical density) ``d >= 0``
multiplies it by ``exp(-d)``::

    x' = 1 - (1 - x) * exp(-d)

so the film brightens where the disease is, the anatomy underneath stays visible with its local
contrast scaled by ``exp(-d)`` (ribs through ground glass), and only a dense opacity hides it (a
silhouette sign). Where ``d == 0`` the output is the input, bit for bit.

:func:`add_opacity` is the one composite used by the learned opacity generator (training and
inference) and by the non-learned baseline transforms, so the two differ only in the density they
propose.
"""

from __future__ import annotations

import torch

from ..errors import InvalidImageError

__all__ = ["add_opacity", "opacity_density"]


def add_opacity(image: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
    """Lay an attenuation ``density`` (>= 0) over ``image`` in ``[0, 1]``.

    Args:
        image: image in ``[0, 1]``, any shape.
        density: non-negative optical density, broadcastable to ``image``.

    Returns:
        ``1 - (1 - image) * exp(-density)``, with the input's own values wherever ``density`` is 0
        (bit for bit: no round-off outside the lesion).
    """
    if torch.is_floating_point(density) and bool((density < 0).any()):
        raise InvalidImageError("opacity density must be non-negative")
    density = density.to(image.dtype) if torch.is_floating_point(image) else density.float()
    out = 1.0 - (1.0 - image) * torch.exp(-density)
    return torch.where(density > 0, out.clamp(0.0, 1.0).to(out.dtype), image.to(out.dtype))


def opacity_density(image: torch.Tensor, edited: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """The density that :func:`add_opacity` would need to turn ``image`` into ``edited``.

    ``-log((1 - edited) / (1 - image))``, clamped at 0; useful for inspecting an edit (the
    difference map in the attenuation domain) and for tests.
    """
    ratio = (1.0 - edited).clamp_min(eps) / (1.0 - image).clamp_min(eps)
    return (-torch.log(ratio)).clamp_min(0.0)
