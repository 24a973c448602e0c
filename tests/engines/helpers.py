"""Tiny real networks and data for the engine tests (32 px, a few filters)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from monai_gan_aug.engines.cyclegan import CycleGANTrainer
from monai_gan_aug.engines.schedulers import build_adam, linear_decay_scheduler
from monai_gan_aug.networks.patch_discriminator import PatchGANDiscriminator
from monai_gan_aug.networks.resnet_generator import ResNetGenerator

SIZE = 32


def unpaired_data(n: int = 4, size: int = SIZE, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Domain A: smooth blobs; domain B: the same with bright patches (pneumonia-like opacities)."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        a = torch.nn.functional.avg_pool2d(torch.rand(1, 1, size, size, generator=g), 5, 1, 2)[0]
        b = a.clone()
        y, x = torch.randint(0, size - 8, (2,), generator=g).tolist()
        b[:, y : y + 8, x : x + 8] = 0.9
        items.append({"image_a": a, "image_b": b})
    return items


def tiny_cyclegan(
    max_epochs: int = 2, n: int = 4, batch_size: int = 2, n_epochs: int = 1, n_epochs_decay: int = 1, seed: int = 0,
    **kwargs,
) -> CycleGANTrainer:
    torch.manual_seed(seed)
    nets = [ResNetGenerator(ngf=4, n_blocks=1), ResNetGenerator(ngf=4, n_blocks=1),
            PatchGANDiscriminator(ndf=4, receptive_field=16), PatchGANDiscriminator(ndf=4, receptive_field=16)]
    opts = [build_adam(net) for net in nets]
    names = ("G_AB", "G_BA", "D_A", "D_B")
    scheds = {k: linear_decay_scheduler(o, n_epochs, n_epochs_decay) for k, o in zip(names, opts)}
    loader = DataLoader(unpaired_data(n, seed=seed), batch_size=batch_size, shuffle=False)
    kwargs.setdefault("pool_size", 3)
    return CycleGANTrainer("cpu", max_epochs, loader, *nets, *opts, lr_schedulers=scheds, **kwargs)
