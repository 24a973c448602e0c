from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine

from monai_gan_aug.errors import ConfigError
from monai_gan_aug.metrics.extractors import RandomConvExtractor
from monai_gan_aug.metrics.handlers import GenerativeMetricsHandler
from tests.metrics._phantoms import add_noise, phantoms

torch.set_num_threads(1)


class ToyGenerator:
    """Returns phantoms in [-1, 1] whose noise falls as 'training' advances (a stand-in GAN output)."""

    def __init__(self):
        self.noise = 0.3
        self.pool = phantoms(64, size=32, seed=5)

    def __call__(self, n: int) -> torch.Tensor:
        idx = torch.randint(0, len(self.pool), (n,))
        return add_noise(self.pool[idx], self.noise, seed=int(torch.randint(0, 1000, ()))) * 2 - 1


def make_engine(gen: ToyGenerator) -> Engine:
    def step(engine, batch):
        gen.noise = max(gen.noise - 0.1, 0.0)
        return {}

    return Engine(step)


def test_scores_every_interval_and_improve():
    gen = ToyGenerator()
    engine = make_engine(gen)
    handler = GenerativeMetricsHandler(
        gen,
        real=phantoms(64, size=32, seed=0),
        extractor=RandomConvExtractor(8, 32),
        interval=1,
        num_samples=48,
        input_range=(-1, 1),
        prefix="val_",
        kid_subset_size=32,
        log_mlflow=False,
    )
    handler.attach(engine)
    engine.run([0], max_epochs=3)
    assert [h["epoch"] for h in handler.history] == [1, 2, 3]
    assert {"val_fid", "val_kid", "val_kid_std"} <= set(engine.state.metrics)
    fids = [h["val_fid"] for h in handler.history]
    assert fids[0] > fids[1] > fids[2]  # noise 0.2 -> 0.1 -> 0.0


def test_seeded_sampling_is_repeatable():
    gen = ToyGenerator()
    handler = GenerativeMetricsHandler(
        gen,
        real=phantoms(16, size=32),
        extractor=RandomConvExtractor(8, 32),
        num_samples=8,
        input_range=(-1, 1),
        seed=7,
    )
    torch.testing.assert_close(handler.generate(), handler.generate())
    assert handler.generate().min() >= 0


def test_logs_to_active_mlflow_run(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    gen = ToyGenerator()
    engine = make_engine(gen)
    GenerativeMetricsHandler(
        gen,
        real=RandomConvExtractor(8, 32).extract(phantoms(32, size=32)),
        extractor=RandomConvExtractor(8, 32),
        interval=2,
        num_samples=16,
        input_range=(-1, 1),
        metrics=("fid",),
    ).attach(engine)
    with mlflow.start_run() as run:
        engine.run([0], max_epochs=4)
    history = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "fid")
    assert [m.step for m in history] == [2, 4]
    assert history[-1].value == pytest.approx(engine.state.metrics["fid"])


def test_network_sampled_in_eval_mode_and_range_checked():
    net = torch.nn.Sequential(torch.nn.Dropout(0.5))
    modes = []

    def sample(n):
        modes.append(net.training)
        return net(torch.rand(n, 1, 32, 32))

    net.train()
    handler = GenerativeMetricsHandler(
        sample, real=phantoms(8, size=32), extractor=RandomConvExtractor(8, 32), num_samples=4, network=net
    )
    assert handler.generate().shape == (4, 1, 32, 32)
    assert modes == [False] and net.training  # eval while sampling, restored after
    with pytest.raises(ConfigError, match="input_range"):
        GenerativeMetricsHandler(
            lambda n: torch.rand(n, 1, 8, 8) * 2 - 1, real=phantoms(8, size=32), num_samples=4
        ).generate()


def test_config_errors():
    with pytest.raises(ConfigError):
        GenerativeMetricsHandler("not callable", real=torch.zeros(2, 1, 8, 8))
    with pytest.raises(ConfigError):
        GenerativeMetricsHandler(lambda n: n, real=torch.zeros(2, 1, 8, 8), metrics=("lpips",))
    with pytest.raises(ConfigError):
        GenerativeMetricsHandler(lambda n: n, real=torch.zeros(2, 1, 8, 8), input_range=(1, -1))
