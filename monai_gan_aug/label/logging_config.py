"""Logging of the MONAI Label server into the studies folder, not into the installed package.

``monailabel start_server`` without ``--log_config`` writes ``logs/app.log`` inside the app
folder, here ``monai_gan_aug/label`` (possibly a read-only site-packages). ``write_log_config``
writes a logging configuration that logs to the console and to ``<studies>/logs/app.log``;
pass its path as ``--log_config`` (``scripts/start-label-server.sh`` does). Standard library only:
runs in either environment.

    python -m monai_gan_aug.label.logging_config <studies>   # prints the config file's path
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["log_config", "write_log_config"]


def log_config(log_file: str | os.PathLike) -> dict:
    """A ``logging.config.dictConfig`` dict: INFO to the console and to ``log_file``."""
    fmt = {"format": "[%(asctime)s] [%(process)s] [%(threadName)s] [%(levelname)s] (%(name)s:%(lineno)d) - %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": fmt},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stdout"},
            "file": {"class": "logging.handlers.RotatingFileHandler", "formatter": "default",
                     "filename": str(log_file), "maxBytes": 10_000_000, "backupCount": 3},
        },
        "root": {"level": "INFO", "handlers": ["console", "file"]},
        "loggers": {name: {"level": "INFO", "handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def write_log_config(studies: str | os.PathLike) -> Path:
    """Write ``<studies>/logs/logging.json`` (logging to ``<studies>/logs/app.log``) and return its path."""
    logs = Path(studies).expanduser().resolve() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / "logging.json"
    path.write_text(json.dumps(log_config(logs / "app.log"), indent=2) + "\n")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m monai_gan_aug.label.logging_config <studies folder>")
    print(write_log_config(sys.argv[1]))
