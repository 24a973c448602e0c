# Sourced by the setup scripts: pick_python prints the first Python >= 3.11 on PATH.
pick_python() {
  for cand in python3.11 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  echo "monai-gan-aug needs Python >= 3.11 on PATH" >&2; return 1
}
