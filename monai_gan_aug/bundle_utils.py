"""Helpers the MONAI bundles under ``bundles/`` call from their JSON configs.

Bundles hold configs and docs only; whatever logic a config needs beyond wiring MONAI components
lives here, tested like the rest of the package.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.bundle import ConfigParser, verify_metadata
from monai.data import CacheDataset
from monai.transforms import Randomizable
from torch.utils.data import Dataset

from .data.datasets import CLASS_INDEX, LABEL_SYNONYMS, dataset_from_path
from .data.splits import SPLIT_NAMES, patient_split
from .engines.runtime import is_rank0
from .errors import ConfigError, DatasetError, MissingWeightsError, MonaiGanAugError
from .networks.factory import save_network
from .utils.atomic import atomic_write
from .utils.checkpoint import load_checkpoint

__all__ = [
    "META_SCHEMA",
    "NetworkExporter",
    "UnpairedDataset",
    "bundle_root",
    "domain_items",
    "executed_config",
    "first_existing",
    "list_images",
    "set_threads",
    "verify_bundle_metadata",
    "warm_start",
    "write_json",
]

#: Local copy of MONAI's bundle metadata schema (``meta_schema_20240725.json``), for offline checks.
META_SCHEMA = Path(__file__).resolve().parent / "bundle_schema" / "meta_schema_20240725.json"
_REPO_BUNDLES = Path(__file__).resolve().parent.parent / "bundles"


def bundle_root(name: str) -> str:
    """Folder of bundle ``name``, however the bundle was started.

    MONAI's config parser does not tell a config its own path, so this looks, in order, at the
    ``--config_file`` of the command line (``python -m monai.bundle run ... --config_file
    <root>/configs/train.json``), at ``./bundles/<name>`` and at the ``bundles/`` folder of the
    source checkout this package was imported from.
    """
    argv = sys.argv
    for i, arg in enumerate(argv):
        value = None
        if arg == "--config_file" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--config_file="):
            value = arg.split("=", 1)[1]
        if value:
            first = value.strip("[]'\" ").split(",")[0].strip("'\" ")
            cfg = Path(first).resolve()
            if cfg.parent.name == "configs" and cfg.parent.parent.name == name:
                return str(cfg.parent.parent)
    for candidate in (Path.cwd() / "bundles" / name, _REPO_BUNDLES / name):
        if (candidate / "configs").is_dir():
            return str(candidate.resolve())
    raise ConfigError(f"cannot find bundle {name!r}; pass --bundle_root <folder of the bundle>")


def executed_config() -> dict[str, Any]:
    """The whole config of the bundle being run, with the command-line overrides applied.

    Call it from a bundle config (``"config": "$bundle_utils.executed_config()"``): MONAI does not
    hand a config its own parser, so this finds the :class:`monai.bundle.ConfigParser` whose
    ``get_parsed_content`` is evaluating the expression (the nearest one up the call stack) and
    returns a deep copy of ``parser.get()``: the raw config (expressions unevaluated) after
    ``--key value`` overrides and macro/relative-id resolution, which is what
    ``monai.bundle run --tracking mlflow`` saves as its executed config.

    Raises:
        ConfigError: not called while a ``ConfigParser`` evaluates a config.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            owner = frame.f_locals.get("self")
            if isinstance(owner, ConfigParser):
                return copy.deepcopy(owner.get())
            frame = frame.f_back
    finally:
        del frame  # break the frame reference cycle promptly
    raise ConfigError(
        "executed_config() found no monai.bundle.ConfigParser evaluating a config; call it from a bundle "
        "config (\"$bundle_utils.executed_config()\") or pass the config explicitly"
    )


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads (``None``: all cores, at most 4) and return the number used."""
    n = int(n) if n else min(4, os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def warm_start(network: torch.nn.Module, weights: str | os.PathLike | None) -> str | None:
    """Initialise ``network`` from a self-describing checkpoint (``None``: leave it as built).

    Used to start a run from another run's generator, e.g. a 128 px lesion generator from the
    shipped 64 px one (the networks are fully convolutional, so the weights fit any working size).
    A resumed run's checkpoint is loaded afterwards and wins. Returns the path used.

    Raises:
        MissingWeightsError: ``weights`` does not exist.
        ConfigError: the checkpoint's weights do not fit ``network``.
    """
    if weights is None:
        return None
    path = Path(weights)
    if not path.is_file():
        raise MissingWeightsError(f"warm-start weights not found: {path}")
    state = load_checkpoint(path, map_location="cpu")
    state = state.get("state_dict", state)
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"warm-start weights {path} do not fit {type(network).__name__}: {exc}") from exc
    return str(path)


def _class_of(label: str) -> int:
    label = LABEL_SYNONYMS.get(label.lower(), label.lower()) if isinstance(label, str) else label
    if label not in CLASS_INDEX:
        raise ConfigError(f"unknown domain label {label!r}; known: {sorted(CLASS_INDEX)}")
    return CLASS_INDEX[label]


def domain_items(
    dataset_dir: str | None, domain: str, max_items: int | None = None, split: str | None = None
) -> list[dict[str, Any]]:
    """Items of one class (``"normal"`` or ``"pneumonia"``) from ``dataset_dir``, or from the demo set.

    Args:
        dataset_dir: a Kaggle-layout folder or CSV manifest (:func:`dataset_from_path`); ``None`` or
            ``""`` uses the radiographs embedded in the package (:mod:`monai_gan_aug.data.demo`).
        domain: class label of the domain.
        max_items: keep at most this many (first ones in path order, after the split).
        split: ``"train"``, ``"val"`` or ``"test"`` keeps the images of the patients that
            :func:`monai_gan_aug.data.splits.patient_split` puts in that split (the project-wide,
            hash-based split, so a model trained on ``"train"`` can be scored on ``"test"``
            honestly; images without a patient id count as their own patient). ``None`` or
            ``"all"`` keeps everything.

    Raises:
        ConfigError: unknown ``split``.
        DatasetError: no image of that class (in that split).
    """
    split = _check_split(split)
    if dataset_dir:
        items = dataset_from_path(dataset_dir)
        source = str(dataset_dir)
    else:
        try:
            from .data.demo import demo_dataset
        except ImportError as exc:  # pragma: no cover - the demo module ships with the package
            raise DatasetError("the embedded demo dataset is not available; pass --dataset_dir") from exc
        items = demo_dataset()
        source = "the embedded demo dataset"
    index = _class_of(domain)
    chosen = [it for it in items if it.get("class_index") == index and "image" in it]
    if split is not None:
        # split by patient *before* max_items, so a cap never pulls in held-out patients
        chosen = patient_split(chosen)[split]
        source = f"the {split!r} patient split of {source}"
    chosen.sort(key=lambda it: str(it["image"]))
    if max_items:
        chosen = chosen[: int(max_items)]
    if not chosen:
        raise DatasetError(f"no {domain!r} images in {source}")
    return [{"image": it["image"]} for it in chosen]


def _check_split(split: str | None) -> str | None:
    """Normalise ``split``: ``None``/``"all"`` -> ``None``, else one of :data:`SPLIT_NAMES`."""
    if split is None or str(split).lower() == "all":
        return None
    if str(split).lower() not in SPLIT_NAMES:
        raise ConfigError(f"split must be one of {SPLIT_NAMES + ('all',)}, got {split!r}")
    return str(split).lower()


class UnpairedDataset(Dataset, Randomizable):
    """Unpaired two-domain dataset: item ``i`` is A[i] with a random B (the CycleGAN reference pairing).

    Each domain's items go through ``transform`` (keys ``image``) in a MONAI ``CacheDataset`` (the
    deterministic part of the transform is cached), and are returned as ``{key_a: ..., key_b: ...}``.
    The length is that of the larger domain; the smaller one is indexed modulo its length.

    Args:
        data_a, data_b: lists of ``{"image": path}`` dicts.
        transform: MONAI transform of one ``{"image": ...}`` dict.
        keys: output keys of the two domains.
        cache_rate: fraction of items to cache (1.0 caches all).
        seed: seed of the random B choice.
    """

    def __init__(
        self, data_a: Sequence[dict], data_b: Sequence[dict], transform: Callable, keys: Sequence[str] = ("image_a", "image_b"),
        cache_rate: float = 1.0, seed: int = 0,
    ) -> None:
        if not data_a or not data_b:
            raise DatasetError(f"both domains need images, got {len(data_a)} and {len(data_b)}")
        self.a = CacheDataset(list(data_a), transform=transform, cache_rate=cache_rate, progress=False)
        self.b = CacheDataset(list(data_b), transform=transform, cache_rate=cache_rate, progress=False)
        self.keys = tuple(keys)
        self.set_random_state(seed=seed)

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def __getitem__(self, index: int) -> dict[str, Any]:
        a = self.a[index % len(self.a)]
        b = self.b[int(self.R.randint(len(self.b)))]
        return {self.keys[0]: a["image"], self.keys[1]: b["image"]}

    def randomize(self, data: Any = None) -> None:  # required by Randomizable; draws happen per item
        pass


class NetworkExporter:
    """Ignite handler that saves networks as self-describing files (``networks.factory.save_network``) at the end.

    Inference then rebuilds them with ``networks.factory.load_network`` without knowing the
    training config. Saves on rank 0 only.

    Args:
        output_dir: destination folder; files are ``<key>.pt``.
        networks: file key -> network (bare module).
        network_name: registered name in ``networks.factory.NETWORKS`` (e.g. ``"resnet_generator"``).
        network_kwargs: constructor arguments (plain values).
        info: extra plain values recorded with the weights (data, epochs...).
    """

    def __init__(
        self, output_dir: str | os.PathLike, networks: Mapping[str, torch.nn.Module], network_name: str,
        network_kwargs: Mapping[str, Any], info: Mapping[str, Any] | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.networks = dict(networks)
        self.network_name = network_name
        self.network_kwargs = dict(network_kwargs)
        self.info = dict(info or {})
        self.saved: list[Path] = []

    def attach(self, engine: Engine) -> None:
        if is_rank0():
            engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        info = {**self.info, "epochs": int(engine.state.epoch), "iterations": int(engine.state.iteration)}
        for key, net in self.networks.items():
            path = self.output_dir / f"{key}.pt"
            save_network(getattr(net, "module", net), self.network_name, self.network_kwargs, path, info={**info, "role": key})
            self.saved.append(path)


def write_json(obj: Mapping[str, Any], path: str | os.PathLike) -> str:
    """Write ``obj`` as indented JSON atomically (plain values; others as ``str``); return the path."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str))
    return str(path)


def verify_bundle_metadata(meta_file: str | os.PathLike) -> None:
    """Validate a bundle ``metadata.json`` against the local copy of MONAI's schema (no download).

    ``monai.bundle.verify_metadata`` downloads the schema named in the file unless ``filepath``
    already exists (and no hash is given), so pointing it at :data:`META_SCHEMA` keeps it offline.
    """
    verify_metadata(meta_file=str(meta_file), filepath=str(META_SCHEMA), create_dir=False)


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".nii", ".nii.gz", ".tif", ".tiff")


def list_images(path: str | os.PathLike | None, demo_domain: str = "normal", max_items: int | None = None) -> list[dict]:
    """``[{"image": path}]`` for a file or every image under a folder; ``None`` = demo images of ``demo_domain``.

    Raises:
        DatasetError: the path does not exist or holds no image.
    """
    if not path:
        return domain_items(None, demo_domain, max_items)
    p = Path(path)
    if p.is_file():
        files = [p]
    elif p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(_IMAGE_SUFFIXES)
                       and not any(part.startswith(".") for part in f.relative_to(p).parts))
    else:
        raise DatasetError(f"input path {str(p)!r} does not exist")
    if not files:
        raise DatasetError(f"no images ({', '.join(_IMAGE_SUFFIXES)}) under {p}")
    return [{"image": str(f.resolve())} for f in files[: int(max_items) if max_items else None]]


def first_existing(paths: Sequence[str | os.PathLike]) -> str:
    """The first of ``paths`` that is a file.

    Raises:
        MissingWeightsError: none exists (all candidates listed).
    """
    for p in paths:
        if p and Path(p).is_file():
            return str(p)
    raise MissingWeightsError(
        f"no weights found; looked for {[str(p) for p in paths]}. Train the bundle first "
        "(python -m monai.bundle run training --config_file <bundle>/configs/train.json) or pass --ckpt_path"
    )


def project_error(exc: BaseException | None) -> MonaiGanAugError | None:
    """The package's own error behind ``exc`` (MONAI's config runner wraps it in RuntimeErrors), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, MonaiGanAugError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def install_error_hook() -> None:
    """Make an uncaught user error end in one ``error:`` line instead of MONAI's config traceback.

    A bundle run that fails on bad input (a box CSV naming missing images, an unreadable image)
    raises one of :mod:`monai_gan_aug.errors` deep inside MONAI's config evaluation, which wraps
    it into a long traceback. With this hook the run prints only ``error: <the package's message>``
    (set ``MONAI_GAN_AUG_TRACEBACK=1`` to see the traceback above it). Other exceptions (bugs) keep
    their normal traceback. Installed on import when running under ``python -m monai.bundle``.
    """
    previous = sys.excepthook
    if getattr(previous, "_monai_gan_aug", False):
        return

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        error = project_error(exc)
        if error is None or os.environ.get("MONAI_GAN_AUG_TRACEBACK"):
            previous(exc_type, exc, tb)
        if error is not None:
            print(f"error: {' '.join(str(error).split())}", file=sys.stderr)

    hook._monai_gan_aug = True  # type: ignore[attr-defined]
    sys.excepthook = hook


if Path(sys.argv[0] if sys.argv else "").parts[-3:] == ("monai", "bundle", "__main__.py"):
    install_error_hook()


def export_from_checkpoint(
    checkpoint: str | os.PathLike, key: str, template: str | os.PathLike, out: str | os.PathLike,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write the network ``key`` of a training checkpoint as a self-describing weights file.

    A run exports its networks only when it ends (:class:`NetworkExporter`); this takes a network
    from any saved checkpoint of a run still going (or stopped), with the registered name and
    constructor arguments of ``template``, a weights file exported by the same config.

    Args:
        checkpoint: a checkpoint of :class:`~monai_gan_aug.engines.checkpoint.AtomicCheckpointSaver`.
        key: the network's key in it (e.g. ``"G"``).
        template: a weights file of the same network (name and ``network_kwargs`` are taken from it).
        out: the file to write (atomically).
        info: plain values recorded with the weights (merged over the template's ``info``, whose
            run-specific values such as data counts must be overridden here; ``epochs`` and
            ``iterations`` come from the checkpoint).

    Raises:
        CheckpointError: the checkpoint lacks ``key`` or its weights do not fit the template's network.
    """
    from .errors import CheckpointError
    from .networks.factory import build_network

    state = load_checkpoint(checkpoint, map_location="cpu")
    tmpl = load_checkpoint(template, map_location="cpu")
    if key not in state:
        raise CheckpointError(f"{checkpoint} has no network {key!r}; it has {sorted(state)}")
    net = build_network(tmpl["network"], **tmpl["network_kwargs"])
    try:
        net.load_state_dict(state[key])
    except RuntimeError as exc:
        raise CheckpointError(f"{key} of {checkpoint} does not fit {tmpl['network']}: {exc}") from exc
    trainer = state.get("trainer", {})
    iterations = int(trainer.get("iteration", 0))
    # Ignite's state dict holds the iteration and epoch length (the epoch only when no iteration is kept)
    epochs = iterations / int(trainer["epoch_length"]) if trainer.get("epoch_length") else trainer.get("epoch", 0)
    run = {"epochs": round(float(epochs), 2), "iterations": iterations}
    merged = {**tmpl.get("info", {}), **run, **dict(info or {})}
    save_network(net, tmpl["network"], tmpl["network_kwargs"], out, info=merged)
    return Path(out)
