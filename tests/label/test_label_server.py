"""A real MONAI Label server running monai_gan_aug/label, asked over HTTP to edit a box.

The server runs from its own environment (``.venv-label``, made by scripts/setup-label-env.sh:
monailabel 0.8.5 needs pydicom 2 / numpy 1, which the main environment does not have). The first
run creates it (about 4 minutes on an idle machine); when that is impossible (no package registry)
the tests skip and say why. Nothing is mocked: ``monailabel start_server`` loads the app, the app
loads a tiny (randomly initialised, real) lesion generator, and the response is the written image.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_gan_aug.transforms.io import LoadXRay, SaveXRay

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("MONAI_GAN_AUG_LABEL_VENV", ROOT / ".venv-label"))
SETUP = ROOT / "scripts" / "setup-label-env.sh"
BOX = [16, 20, 40, 44]  # x0, y0, x1, y1
FEATHER = 4
START_TIMEOUT_S = 240
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def _chest(h: int = 64, w: int = 56) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 40.0)
    img[((xx - w / 2) / (w * 0.45)) ** 2 + ((yy - h / 2) / (h * 0.48)) ** 2 < 1] = 180
    for cx in (w * 0.32, w * 0.68):
        img[((xx - cx) / (w * 0.14)) ** 2 + ((yy - h * 0.48) / (h * 0.3)) ** 2 < 1] = 70
    rng = np.random.default_rng(0)
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def label_venv() -> Path:
    """``.venv-label`` made (or confirmed up to date) by the setup script, or a skip with the reason."""
    t0 = time.time()
    try:
        proc = subprocess.run(["bash", str(SETUP)], cwd=ROOT, capture_output=True, text=True, timeout=2000,
                              env={**os.environ, "MONAI_GAN_AUG_LABEL_VENV": str(VENV)})
    except subprocess.TimeoutExpired:
        pytest.skip(f"creating {VENV} took over 2000 s (slow package registry?); run {SETUP} by hand")
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    if not (VENV / "bin" / "monailabel").is_file():
        pytest.skip(f"could not install monailabel into {VENV} (no package registry?):\n{tail}")
    if proc.returncode != 0:  # monailabel is there but the app does not import: a real failure
        pytest.fail(f"{SETUP} failed after installing monailabel:\n{tail}")
    print(f"label environment ready in {time.time() - t0:.0f} s", file=sys.stderr)
    return VENV


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> Path:
    """A local datastore: one 8-bit PNG radiograph, the same picture as a DICOM CR, and one label.

    The label of ``chest_png`` marks a pneumonia region (value 1) and a healthy-lung region
    (value 2), which the train task turns into two training regions.
    """
    root = tmp_path_factory.mktemp("studies")
    Image.fromarray(_chest()).save(root / "chest_png.png")
    img = LoadXRay()(root / "chest_png.png")
    img.meta["synthetic"] = False
    SaveXRay(output_format="dicom")(img, root / "chest_dcm.dcm")
    label = np.zeros((64, 56), np.uint8)
    label[20:36, 10:24] = 1
    label[22:38, 34:46] = 2
    (root / "labels" / "final").mkdir(parents=True)
    Image.fromarray(label).save(root / "labels" / "final" / "chest_png.png")
    return root


@pytest.fixture(scope="module")
def tiny_cyclegan(tmp_path_factory) -> tuple[Path, Path]:
    """Two small randomly initialised (real) ResNet generators saved as G_AB and G_BA checkpoints."""
    import torch

    from monai_gan_aug.networks.factory import save_network
    from monai_gan_aug.networks.resnet_generator import ResNetGenerator

    folder = tmp_path_factory.mktemp("cyclegan")
    kwargs = {"in_channels": 1, "out_channels": 1, "ngf": 4, "n_blocks": 1}
    paths = []
    for i, name in enumerate(("G_AB", "G_BA")):
        torch.manual_seed(i)
        path = folder / f"cyclegan_{name}.pt"
        save_network(ResNetGenerator(**kwargs), "resnet_generator", kwargs, path, info={"image_size": 32})
        paths.append(path)
    return paths[0], paths[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(label_venv, studies, tiny_lesion_weights, tiny_cyclegan, tmp_path_factory):
    """``monailabel start_server`` on a free loopback port; stopped (terminate, then kill) afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [str(label_venv / "bin" / "monailabel"), "start_server", "--app", str(ROOT / "monai_gan_aug" / "label"),
           "--studies", str(studies), "--conf", "sam2", "false", "--conf", "lesion_weights", str(tiny_lesion_weights),
           "--conf", "device", "cpu",
           "--conf", "cyclegan_weights", str(tiny_cyclegan[0]), "--conf", "cyclegan_ba_weights", str(tiny_cyclegan[1]), "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)}
    env["OMP_NUM_THREADS"] = "1"
    # the monailabel launcher is a shell script that runs "python -m monailabel.main" from PATH
    env["PATH"] = f"{label_venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(label_venv)
    t0 = time.time()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=studies, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        info = None
        while time.time() - t0 < START_TIMEOUT_S and proc.poll() is None:
            try:
                info = _get_json(f"{base}/info/")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(1)
        if info is None:
            raise AssertionError(f"server did not answer /info/ (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
        print(f"label server answered /info/ after {time.time() - t0:.1f} s", file=sys.stderr)
        yield base, info, log
    finally:
        proc.terminate()  # the launcher execs python, so this reaches the server itself
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what this test started
            proc.wait(timeout=30)


def _post(url: str, data: bytes, headers: dict | None = None, timeout: float = 120) -> tuple[int, bytes]:
    try:
        req = urllib.request.Request(url, data=data, method="POST", headers=headers or {})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _infer(base: str, model: str, image: str, params: dict, output: str = "image") -> tuple[int, bytes]:
    """POST /infer/<model>?image=<id> with the task's options in the ``params`` form field."""
    body = urllib.parse.urlencode({"params": json.dumps(params)}).encode()
    return _post(f"{base}/infer/{model}?" + urllib.parse.urlencode({"image": image, "output": output}), body)


def _outside(shape: tuple[int, int]) -> np.ndarray:
    """Pixels outside the box and its feather band (which must be untouched)."""
    keep = np.ones(shape, bool)
    x0, y0, x1, y1 = BOX
    keep[max(0, y0 - FEATHER) : y1 + FEATHER, max(0, x0 - FEATHER) : x1 + FEATHER] = False
    return keep


def test_info_lists_the_region_task_and_datastore(server):
    _, info, _ = server
    assert {"pneumonia_region", "cyclegan", "difference_map"} <= set(info["models"])
    assert info["models"]["pneumonia_region"]["dimension"] == 2
    assert "lesion_finetune" in info.get("trainers", {})


def test_png_edit_changes_only_the_box(server, studies):
    base, _, log = server
    status, data = _infer(base, "pneumonia_region", "chest_png", {"box": BOX, "feather": FEATHER, "seed": 3})
    assert status == 200, f"{status}: {data[:500]!r}\n{log.read_text()[-2000:]}"
    out = np.asarray(Image.open(io.BytesIO(data)))
    src = np.asarray(Image.open(studies / "chest_png.png"))
    assert out.shape == src.shape and out.dtype == src.dtype  # the source's own 8-bit representation
    outside = _outside(src.shape)
    np.testing.assert_array_equal(out[outside], src[outside])  # bit for bit
    x0, y0, x1, y1 = BOX
    assert np.abs(out[y0:y1, x0:x1].astype(int) - src[y0:y1, x0:x1]).max() > 0


def test_dicom_input_is_read_and_edited_inside_the_box(server, studies):
    base, _, log = server
    status, data = _infer(base, "pneumonia_region", "chest_dcm",
                          {"foreground": [[20, 24], [35, 39]], "feather": FEATHER, "seed": 1})
    assert status == 200, f"{status}: {data[:500]!r}\n{log.read_text()[-2000:]}"
    out = np.asarray(Image.open(io.BytesIO(data))).astype(np.float64) / 65535  # 16-bit PNG of the edit
    src = LoadXRay()(studies / "chest_dcm.dcm")[0].numpy()
    assert out.shape == src.shape
    # scribble points -> box [16, 20, 40, 44] with the default 4 px margin: same region as BOX
    outside = _outside(src.shape)
    assert np.abs(out - src)[outside].max() < 1e-4
    assert np.abs(out - src)[22:42, 18:38].max() > 1e-3


def test_request_without_region_is_refused_with_a_message(server):
    base, _, _ = server
    status, data = _infer(base, "pneumonia_region", "chest_png", {"seed": 0})
    assert status >= 400
    assert b"marks no region" in data


def test_cyclegan_box_translation_changes_only_the_box(server, studies):
    base, _, log = server
    status, data = _infer(base, "cyclegan", "chest_png", {"box": BOX, "feather": FEATHER})
    assert status == 200, f"{status}: {data[:500]!r}\n{log.read_text()[-2000:]}"
    out = np.asarray(Image.open(io.BytesIO(data)))
    src = np.asarray(Image.open(studies / "chest_png.png"))
    assert out.shape == src.shape
    outside = _outside(src.shape)
    # 8-bit source written back in its own representation outside the edited pixels
    np.testing.assert_array_equal(out[outside].astype(np.float64) / np.iinfo(out.dtype).max, src[outside] / 255.0)
    x0, y0, x1, y1 = BOX
    assert np.abs(out[y0:y1, x0:x1].astype(np.float64) / np.iinfo(out.dtype).max - src[y0:y1, x0:x1] / 255.0).max() > 0


def test_difference_map_returns_a_binary_label_of_image_size(server, studies):
    base, _, log = server
    status, data = _infer(base, "difference_map", "chest_png", {"lung": "none", "min_size": 1})
    assert status == 200, f"{status}: {data[:500]!r}\n{log.read_text()[-2000:]}"
    mask = np.asarray(Image.open(io.BytesIO(data)))
    assert mask.shape == (64, 56) and set(np.unique(mask)) <= {0, 1}


def test_train_task_finetunes_on_labelled_regions_and_infer_uses_the_result(server, studies):
    from monai_gan_aug.networks.factory import load_network

    base, _, log = server
    body = json.dumps({"max_epochs": 2, "batch_size": 2, "seed": 0}).encode()
    status, data = _post(f"{base}/train/lesion_finetune?run_sync=true", body, {"Content-Type": "application/json"},
                         timeout=300)
    assert status == 200, f"{status}: {data[:500]!r}\n{log.read_text()[-3000:]}"
    stats = json.loads(data)
    assert stats["regions"] == 2 and stats["iterations"] == 2  # 2 regions, batch 2, 2 epochs
    out = studies / "model" / "lesion_inpaint_finetuned.pt"
    net = load_network(out)
    assert net.info["finetune_regions"] == 2 and net.info["working_size"] == 64
    status, data = _infer(base, "pneumonia_region", "chest_png", {"box": BOX, "seed": 0}, output="json")
    assert status == 200 and json.loads(data)["weights"] == out.name
