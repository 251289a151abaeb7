#!/usr/bin/env bash
# Installs gradsign_fast into the current Python for development and CI, from a fresh clone:
#   1. torch first (a plain `torch` requirement with no torch installed would pull a multi-GB build of
#      pip's choosing); torchvision with it for the tests on torchvision's models;
#   2. the build tools; 3. the package, built against that torch (--no-build-isolation: an isolated
#      build environment would download a torch of its own); 4. the peers of the speed comparison.
# GRADSIGN_TORCH_SPEC / GRADSIGN_TORCHVISION_SPEC choose other versions; an importable torch is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if ! "$PY" -c "import torch, torchvision" >/dev/null 2>&1; then
  "$PY" -m pip install "${GRADSIGN_TORCH_SPEC:-torch==2.14.1}" "${GRADSIGN_TORCHVISION_SPEC:-torchvision==0.29.1}"
fi
"$PY" -m pip install "setuptools>=64" wheel ninja "pybind11>=2.10" numpy
"$PY" -m pip install --no-build-isolation -e ".[test,nas,ray]"
# The peers of the speed comparison (benchmarks/peer_table.py): --no-deps, so pip keeps this torch.
"$PY" -m pip install --no-deps opacus backpack-for-pytorch unfoldNd einops
"$PY" -c "import gradsign_fast, json; print(json.dumps(gradsign_fast.info(), indent=1))"
