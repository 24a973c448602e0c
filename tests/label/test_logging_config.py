"""The MONAI Label server's logging config writes into the studies folder (no monailabel needed)."""

from __future__ import annotations

import json
import logging
import logging.config
import subprocess
import sys

from monai_gan_aug.label.logging_config import write_log_config


def test_log_config_logs_into_the_studies_folder(tmp_path):
    studies = tmp_path / "studies"
    proc = subprocess.run([sys.executable, "-m", "monai_gan_aug.label.logging_config", str(studies)],
                          capture_output=True, text=True, check=True)
    path = studies / "logs" / "logging.json"
    assert proc.stdout.strip() == str(path.resolve())
    config = json.loads(path.read_text())
    assert config["handlers"]["file"]["filename"] == str((studies / "logs" / "app.log").resolve())
    # it is a working dictConfig: a record ends up in the studies folder's log
    code = ("import json, logging, logging.config, sys; logging.config.dictConfig(json.load(open(sys.argv[1]))); "
            "logging.getLogger('monai_gan_aug.label').warning('hello from the app')")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)
    assert "hello from the app" in (studies / "logs" / "app.log").read_text()
    assert write_log_config(studies) == path.resolve()  # idempotent
