#!/usr/bin/env bash
# Install (if needed) and run the main job on the embedded demo data: train the CycleGAN
# pneumonia bundle for a few minutes on CPU. Extra arguments go to `monai.bundle run`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-venv.sh"
cd "$root"
exec "$root/.venv/bin/python" -m monai.bundle run training \
  --config_file bundles/cyclegan_pneumonia/configs/train.json "$@"
