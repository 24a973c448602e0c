#!/usr/bin/env bash
# Start the MONAI Label server of monai_gan_aug/label with its log in <studies>/logs/app.log
# (monailabel's default is logs/ inside the app folder, i.e. inside the installed package).
# Usage: bash scripts/start-label-server.sh STUDIES [more monailabel start_server options...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MONAI_GAN_AUG_LABEL_VENV:-$root/.venv-label}"
if [ $# -lt 1 ]; then
  echo "usage: bash scripts/start-label-server.sh STUDIES [monailabel start_server options]" >&2
  exit 2
fi
studies="$1"; shift
log_config="$("$venv/bin/python" -m monai_gan_aug.label.logging_config "$studies")"
export PATH="$venv/bin:$PATH"   # the monailabel launcher runs `python` from PATH
exec monailabel start_server --app "$root/monai_gan_aug/label" --studies "$studies" \
  --log_config "$log_config" "$@"
