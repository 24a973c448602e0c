"""Benchmark CycleGAN training and inference speed on this machine: reference setup vs our engine.

Both sides use the same architecture as the public pytorch-CycleGAN-and-pix2pix defaults
(ResNet generator with 9 blocks, ngf 64, 70x70 PatchGAN with ndf 64, instance norm, LSGAN,
batch 1, Adam lr 2e-4 beta1 0.5):

* ``reference``: the reference training step written plainly: float32, NCHW, eager, Adam's default
  per-tensor loop on CPU, the two discriminators backpropagated separately; inference under
  ``torch.no_grad``.
* ``engine``: :class:`monai_gan_aug.engines.cyclegan.CycleGANTrainer` (stacked generator/discriminator
  calls, fused Adam from :func:`~monai_gan_aug.engines.schedulers.build_adam`,
  ``zero_grad(set_to_none=True)``) in the variants of :data:`VARIANTS`: float32 or bfloat16
  autocast, NCHW or channels-last, optionally ``torch.compile``; inference under
  ``torch.inference_mode`` (with the variant's autocast).

All variants are timed round-robin in one process (A/B/C/A/B/C..., after one warm-up call each;
median per variant), so that load from other processes on a shared machine hits them alike.

Run: ``python scripts/benchmark_cyclegan.py --sizes 64 128 256 --iters 3 2 1``. Prints a Markdown
table; ``--variants bf16_cl`` restricts the engine variants (the reference always runs).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from monai_gan_aug.engines.cyclegan import CycleGANTrainer
from monai_gan_aug.engines.schedulers import build_adam
from monai_gan_aug.losses.adversarial import AdversarialLoss
from monai_gan_aug.networks.patch_discriminator import PatchGANDiscriminator
from monai_gan_aug.networks.resnet_generator import ResNetGenerator


def build_nets(seed: int = 0) -> list[nn.Module]:
    """G_AB, G_BA, D_A, D_B with the reference defaults."""
    torch.manual_seed(seed)
    return [ResNetGenerator(ngf=64, n_blocks=9), ResNetGenerator(ngf=64, n_blocks=9),
            PatchGANDiscriminator(ndf=64, receptive_field=70), PatchGANDiscriminator(ndf=64, receptive_field=70)]


class ReferenceStep:
    """One CycleGAN iteration as the reference project does it (fp32, NCHW, eager)."""

    def __init__(self, nets: list[nn.Module]) -> None:
        self.g_ab, self.g_ba, self.d_a, self.d_b = nets
        self.opt_g = torch.optim.Adam(itertools.chain(self.g_ab.parameters(), self.g_ba.parameters()), lr=2e-4,
                                      betas=(0.5, 0.999), foreach=False)
        self.opt_d = torch.optim.Adam(itertools.chain(self.d_a.parameters(), self.d_b.parameters()), lr=2e-4,
                                      betas=(0.5, 0.999), foreach=False)
        self.gan = AdversarialLoss("lsgan")
        self.l1 = nn.L1Loss()

    def __call__(self, real_a: torch.Tensor, real_b: torch.Tensor) -> None:
        fake_b = self.g_ab(real_a)
        rec_a = self.g_ba(fake_b)
        fake_a = self.g_ba(real_b)
        rec_b = self.g_ab(fake_a)
        for p in itertools.chain(self.d_a.parameters(), self.d_b.parameters()):
            p.requires_grad_(False)
        self.opt_g.zero_grad()
        loss_idt_a = self.l1(self.g_ab(real_b), real_b) * 10 * 0.5
        loss_idt_b = self.l1(self.g_ba(real_a), real_a) * 10 * 0.5
        loss_g = (self.gan(self.d_b(fake_b), True, False) + self.gan(self.d_a(fake_a), True, False)
                  + self.l1(rec_a, real_a) * 10 + self.l1(rec_b, real_b) * 10 + loss_idt_a + loss_idt_b)
        loss_g.backward()
        self.opt_g.step()
        for p in itertools.chain(self.d_a.parameters(), self.d_b.parameters()):
            p.requires_grad_(True)
        self.opt_d.zero_grad()
        for d, real, fake in ((self.d_b, real_b, fake_b), (self.d_a, real_a, fake_a)):
            loss_d = 0.5 * (self.gan(d(real), True, True) + self.gan(d(fake.detach()), False, True))
            loss_d.backward()
        self.opt_d.step()


def interleaved(fns: dict[str, Callable[[], None]], iters: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each function, calls interleaved round-robin.

    The machine is shared: interleaving spreads load changes evenly over the variants instead of
    penalising whichever happened to run during a busy spell.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(iters):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


#: engine variants: name -> (autocast dtype, channels_last, torch.compile)
VARIANTS: dict[str, tuple[str | None, bool, bool]] = {
    "fp32_nchw": (None, False, False),
    "fp32_cl": (None, True, False),
    "bf16_nchw": ("bfloat16", False, False),
    "bf16_cl": ("bfloat16", True, False),
    "bf16_cl_compile": ("bfloat16", True, True),
}


def engine_trainer(size: int, amp_dtype: str | None, channels_last: bool, compile: bool) -> CycleGANTrainer:
    nets = build_nets()
    opts = [build_adam(n) for n in nets]
    data = [{"image_a": torch.rand(1, size, size), "image_b": torch.rand(1, size, size)}]
    return CycleGANTrainer("cpu", 1, DataLoader(data, batch_size=1), *nets, *opts, channels_last=channels_last,
                           amp=amp_dtype is not None, amp_dtype=amp_dtype, compile=compile)


def bench_size(size: int, iters: int, variants: list[str]) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Training s/iter and inference s/image of the reference and of each engine variant.

    Returns the two timing dicts and the variants that failed (name -> error), which are left out.
    """
    real_a, real_b = torch.rand(1, 1, size, size) * 2 - 1, torch.rand(1, 1, size, size) * 2 - 1
    batch = {"image_a": torch.rand(1, 1, size, size), "image_b": torch.rand(1, 1, size, size)}
    ref = ReferenceStep(build_nets())
    trainers: dict[str, CycleGANTrainer] = {}
    failed: dict[str, str] = {}
    for name in variants:
        try:
            t = engine_trainer(size, *VARIANTS[name])
            t0 = time.perf_counter()
            t._iteration(t, batch)  # first call: compiles if asked, so a failure shows here
            if VARIANTS[name][2]:
                print(f"  {name}: first iteration (compilation) {time.perf_counter() - t0:.0f} s", flush=True)
            trainers[name] = t
        except Exception as exc:  # report any failure of a variant (e.g. torch.compile without a compiler)
            failed[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    train_fns: dict[str, Callable[[], None]] = {"reference": lambda: ref(real_a, real_b)}
    train_fns.update({k: (lambda t=t: t._iteration(t, batch)) for k, t in trainers.items()})
    train = interleaved(train_fns, iters)

    g_ref = ref.g_ab.eval()

    def ref_infer() -> None:
        with torch.no_grad():
            g_ref(real_a)

    infer_fns: dict[str, Callable[[], None]] = {"reference": ref_infer}
    for k, t in trainers.items():
        g = t.networks["G_AB"].eval()  # compiled module when the variant compiles
        x = real_a.contiguous(memory_format=torch.channels_last) if t.channels_last else real_a

        def eng_infer(g=g, x=x, dtype=t.amp_dtype) -> None:
            with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                g(x)

        infer_fns[k] = eng_infer
    infer = interleaved(infer_fns, max(3, 2 * iters))
    return train, infer, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--iters", type=int, nargs="+", default=[3, 2, 1], help="timed iterations per size")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=["fp32_nchw", "fp32_cl", "bf16_nchw", "bf16_cl"],
                        choices=sorted(VARIANTS), help="engine variants to time against the reference")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    iters = args.iters + [args.iters[-1]] * (len(args.sizes) - len(args.iters))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), mkldnn {torch.backends.mkldnn.is_available()}, "
          f"bf16 supported {torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()}; "
          "batch 1, ResNet-9 ngf 64 / PatchGAN 70 ndf 64", flush=True)
    rows = ["| px | variant | train s/iter | speed-up | infer ms/image | speed-up |", "|---|---|---|---|---|---|"]
    for size, n in zip(args.sizes, iters):
        t0 = time.perf_counter()
        train, infer, failed = bench_size(size, n, args.variants)
        for k in train:
            rows.append(f"| {size} | {k} | {train[k]:.2f} | {train['reference'] / train[k]:.2f}x | {infer[k] * 1e3:.0f} | "
                        f"{infer['reference'] / infer[k]:.2f}x |")
        rows.extend(f"| {size} | {k} | failed: {err} | | | |" for k, err in failed.items())
        print(f"{size} px done in {time.perf_counter() - t0:.0f} s ({n} timed iterations per variant)", flush=True)
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
