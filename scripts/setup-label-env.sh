#!/usr/bin/env bash
# Create .venv-label: a second virtual environment for the MONAI Label app (monai_gan_aug/label).
#
# Why a second environment: monailabel 0.8.5 cannot live beside the core pins in .venv.
#   - its pydicom-seg needs numpy<2 and jsonschema<4;
#   - its app and DICOM datastore do not import under pydicom 3 (2.4.4 + pynetdicom 2.0.2 +
#     dicomweb-client 0.59.1 do);
#   - its server fails next to the CPU torch 2.13.0 ("operator torchvision::nms does not exist")
#     but starts with torch 2.14.1 + torchvision 0.29.1 (both lie on this machine's disk).
# monai-gan-aug itself is installed editable with --no-deps plus the subset of its dependencies
# that agree with those pins; its pydicom-3-only import (pydicom.pixels) is bridged at run time by
# monai_gan_aug/label/compat.py.
#
# Idempotent: a stamp file records the hash of this script and pyproject.toml; a second run with
# nothing changed returns at once. Usage: bash scripts/setup-label-env.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${MONAI_GAN_AUG_LABEL_VENV:-$root/.venv-label}"

# shellcheck source=scripts/pick-python.sh
source "$root/scripts/pick-python.sh"

stamp_of() { cat pyproject.toml scripts/setup-label-env.sh | sha256sum | cut -d' ' -f1; }
want="$(stamp_of)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.install-stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

py="$(pick_python)"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
echo "Installing monailabel + monai-gan-aug into $venv (about 4 minutes, ~8 GB on a fresh machine)..." >&2
pins="$(mktemp)"
trap 'rm -f "$pins"' EXIT
# The versions measured together (see the header); monai and ignite stay inside our own ranges.
cat > "$pins" <<'EOF'
monailabel==0.8.5
torch==2.14.1
torchvision==0.29.1
numpy<2
jsonschema<4
pydicom==2.4.4
pynetdicom==2.0.2
dicomweb-client==0.59.1
monai>=1.5,<1.7
pytorch-ignite>=0.5,<0.6
EOF
"$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
# The label server plus those of our dependencies that agree with its pins (pydicom 3,
# jsonschema 4 and mlflow are left out: the app does not need them).
"$venv/bin/python" -m pip install --quiet -c "$pins" \
  monailabel torch torchvision numpy pydicom pynetdicom dicomweb-client monai pytorch-ignite \
  "scipy>=1.10" "pillow>=10" "nibabel>=5" "SimpleITK>=2.3" "fire>=0.5" "tqdm>=4.60" "requests" \
  2>&1 | grep -v "is ignored" >&2 || true
"$venv/bin/python" -m pip install --quiet --no-deps -e . 2>&1 | grep -v "is ignored" >&2 || true
# Fail loudly if the install is not usable (the greps above swallow pip's exit status).
"$venv/bin/python" -c "
import monailabel, torch, torchvision, pydicom
import monai_gan_aug.label.compat as c
c.install_pydicom_compat()
import monai_gan_aug.inferers.edit, monai_gan_aug.engines.lesion
from monailabel.interfaces.app import MONAILabelApp
" || { echo "install failed: see pip output above" >&2; exit 1; }
echo "$want" > "$venv/.install-stamp"
