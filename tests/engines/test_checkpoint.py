from __future__ import annotations

import copy

import pytest
import torch
from ignite.engine import Events

from monai_gan_aug.engines.checkpoint import AtomicCheckpointSaver, ResumeCheckpointLoader, latest_checkpoint
from monai_gan_aug.errors import CheckpointError

from .helpers import tiny_cyclegan


def _snapshot(trainer) -> dict:
    """Deep copy of every checkpointed state (tensors cloned)."""
    return {k: copy.deepcopy(v.state_dict()) for k, v in trainer.checkpoint_objects().items() if k != "trainer"} | {
        "iteration": trainer.state.iteration
    }


def _assert_same(a, b, path="") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


class _Killed(RuntimeError):
    pass


def test_killed_run_resumes_with_identical_state(tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    # 3 iterations per epoch; checkpoint every 2 iterations; killed after iteration 5 (mid-epoch 2)
    first = tiny_cyclegan(max_epochs=3, n=6, batch_size=2, seed=0)
    AtomicCheckpointSaver(ckpt_dir, first.checkpoint_objects(), save_interval=2, epoch_level=False).attach(first)
    saved: dict = {}
    first.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda e: saved.update(_snapshot(e)))

    def kill(engine):
        raise _Killed("simulated crash")

    first.add_event_handler(Events.ITERATION_COMPLETED(once=5), kill)
    with pytest.raises(_Killed):
        first.run()
    assert latest_checkpoint(ckpt_dir).name == "checkpoint_iteration=4.pt"
    # loadable without unpickling arbitrary objects
    raw = torch.load(latest_checkpoint(ckpt_dir), weights_only=True)
    assert raw["trainer"]["iteration"] == 4 and raw["pool_A"]["images"].shape[0] == 3

    # a new process would rebuild everything with fresh random weights
    second = tiny_cyclegan(max_epochs=3, n=6, batch_size=2, seed=123)
    loader = ResumeCheckpointLoader(ckpt_dir, second.checkpoint_objects())
    loader.attach(second)
    restored: dict = {}
    second.add_event_handler(Events.STARTED, lambda e: restored.update(_snapshot(e)))
    second.run()
    assert loader.loaded_path.name == "checkpoint_iteration=4.pt"
    assert restored["iteration"] == 4
    _assert_same(saved, restored)
    assert second.state.iteration == 9 and second.state.epoch == 3


def test_loader_starts_fresh_without_checkpoint_and_rejects_unsafe_files(tmp_path):
    trainer = tiny_cyclegan(max_epochs=1)
    loader = ResumeCheckpointLoader(tmp_path / "none", trainer.checkpoint_objects())
    loader(trainer)
    assert loader.loaded_path is None and trainer.state.iteration == 0
    with pytest.raises(CheckpointError):
        ResumeCheckpointLoader(tmp_path / "none", trainer.checkpoint_objects(), missing_ok=False)(trainer)
    bad = tmp_path / "evil.pt"
    torch.save({"trainer": _Killed("not a tensor")}, bad)  # an arbitrary object: refused by weights_only
    with pytest.raises(CheckpointError):
        ResumeCheckpointLoader(bad, trainer.checkpoint_objects())(trainer)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError):
        ResumeCheckpointLoader(truncated, trainer.checkpoint_objects())(trainer)


def test_saver_writes_atomically_readable_files(tmp_path):
    trainer = tiny_cyclegan(max_epochs=1)
    saver = AtomicCheckpointSaver(tmp_path, trainer.checkpoint_objects(), save_final=True, final_filename="final.pt")
    saver.attach(trainer)
    trainer.run()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["final.pt"]  # no temporary file left behind
    assert (tmp_path / "final.pt").stat().st_mode & 0o777 == 0o644
    state = torch.load(tmp_path / "final.pt", weights_only=True)
    assert {"G_AB", "G_BA", "D_A", "D_B", "opt_G_AB", "sched_D_B", "pool_A", "pool_B", "scalers", "trainer"} <= set(state)
