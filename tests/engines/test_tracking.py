from __future__ import annotations

import mlflow
import pytest
import torch
from monai.handlers import StatsHandler

from monai_gan_aug.engines.checkpoint import AtomicCheckpointSaver
from monai_gan_aug.engines.samples import SampleGridSaver
from monai_gan_aug.engines.tracking import GanMLFlowHandler, default_tracking_uri, flatten_params, loss_output_transform

from .helpers import tiny_cyclegan


def test_mlflow_run_records_params_losses_and_artifacts(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    trainer = tiny_cyclegan(max_epochs=2, n=2, batch_size=1)
    params = {"image_size": 32, "network": {"ngf": 4, "n_blocks": 1}}
    params.update({f"extra_{i}": i for i in range(120)})  # more than MLflow's 100 per batch
    handlers = [
        AtomicCheckpointSaver(tmp_path / "ckpt", trainer.checkpoint_objects(), save_final=True, final_filename="final.pt"),
        SampleGridSaver(tmp_path / "samples", max_images=1),
        StatsHandler(output_transform=loss_output_transform, iteration_log=False),
        GanMLFlowHandler(root=tmp_path, params=params, artifacts=[tmp_path / "samples", tmp_path / "ckpt" / "final.pt"],
                         experiment_name="test_cyclegan", run_name="tiny"),
    ]
    for h in handlers:
        h.attach(trainer)
    trainer.run()
    run_id = handlers[-1].run_id
    assert run_id is not None

    client = mlflow.tracking.MlflowClient(tracking_uri=default_tracking_uri(tmp_path))
    assert (tmp_path / "mlruns.db").is_file()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["network.ngf"] == "4" and run.data.params["extra_119"] == "119"
    for key in ("loss_G_AB_adv", "loss_G_BA_adv", "loss_D_A", "loss_D_B", "loss_cycle_A", "loss_idt_B", "lr_G_AB"):
        history = client.get_metric_history(run_id, key)
        assert [m.step for m in history] == [1, 2, 3, 4], key
        assert all(m.value == m.value for m in history)
    # the last logged value is the trainer's last output
    assert client.get_metric_history(run_id, "loss_D_B")[-1].value == pytest.approx(trainer.state.output["loss_D_B"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"final.pt", "samples_epoch=0001.png", "samples_epoch=0002.png"} <= artifacts


def test_tracking_uri_env_wins_and_file_uris_not_produced(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert default_tracking_uri(tmp_path).startswith("sqlite:///")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/db.db")
    assert default_tracking_uri(tmp_path) == "sqlite:////elsewhere/db.db"


def test_output_transform_and_flatten():
    assert loss_output_transform([{"a": torch.tensor(1.5), "b": 2, "img": torch.zeros(3)}]) == {"a": 1.5, "b": 2.0}
    assert loss_output_transform(None) == {}
    flat = flatten_params({"a": {"b": [1, 2]}, "c": "x" * 600})
    assert flat["a.b"] == "[1, 2]" and len(flat["c"]) == 500
