"""History buffer of generated images (Shrivastava et al. 2017), as used by CycleGAN.

The discriminator is updated with a mix of the newest fakes and fakes from earlier iterations,
which damps oscillation between generator and discriminator. The pool's images and its random
generator are part of the checkpointed state, so that a resumed run draws exactly what an
uninterrupted run would have drawn.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import CheckpointError, ConfigError

__all__ = ["ImagePool"]


class ImagePool:
    """Keep up to ``pool_size`` previously generated images and mix them into discriminator batches.

    For each image of a query: while the pool is not full, the image is stored and returned; once
    full, with probability 0.5 a random stored image is returned and replaced by the new one,
    otherwise the new image is returned unchanged.

    Args:
        pool_size: capacity; ``0`` disables the pool (queries return their input).
        seed: seed of the pool's own random generator (independent of the global RNG, so that
            other random draws do not change what the pool does).
    """

    def __init__(self, pool_size: int = 50, seed: int = 0) -> None:
        if int(pool_size) < 0:
            raise ConfigError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = int(pool_size)
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape as ``images``: new fakes mixed with stored ones.

        Args:
            images: a batch ``(N, C, H, W)`` of generated images (detached by this call).
        """
        images = images.detach()
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
                continue
            if torch.rand(1, generator=self.generator).item() > 0.5:
                idx = int(torch.randint(0, self.pool_size, (1,), generator=self.generator).item())
                old = self.images[idx].to(image.device, image.dtype)
                self.images[idx] = image.clone()
                out.append(old)
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values only (loadable with ``weights_only=True``)."""
        stored = torch.cat([im.cpu() for im in self.images], 0) if self.images else torch.empty(0)
        return {"pool_size": self.pool_size, "images": stored, "rng_state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the stored images and the random generator from :meth:`state_dict`."""
        missing = {"pool_size", "images", "rng_state"} - set(state)
        if missing:
            raise CheckpointError(f"image pool state lacks {sorted(missing)}")
        if int(state["pool_size"]) != self.pool_size:
            raise CheckpointError(f"image pool size mismatch: checkpoint {state['pool_size']}, pool {self.pool_size}")
        images = state["images"]
        self.images = [images[i : i + 1].clone() for i in range(images.shape[0])] if images.numel() else []
        self.generator.set_state(state["rng_state"])
