"""``python -m monai_gan_aug.cli``."""

from __future__ import annotations

import sys

from . import main

__all__: list[str] = []

sys.exit(main())
