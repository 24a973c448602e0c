#!/usr/bin/env bash
# Install (if needed) and run the main job on the embedded demo data: put pneumonia into a box
# inside the lung of held-out demo radiographs with the shipped lesion generator. Writes the
# edited images, side-by-side panels and a manifest to outputs/edit_demo/. Extra arguments go
# to `monai.bundle run` (e.g. --box_csv my_boxes.csv --output_dir my_outputs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-venv.sh"
cd "$root"
exec "$root/.venv/bin/python" -m monai.bundle run inference \
  --config_file bundles/lesion_inpaint/configs/inference.json --output_dir outputs/edit_demo "$@"
