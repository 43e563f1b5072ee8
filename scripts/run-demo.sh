#!/usr/bin/env bash
# The main job on the embedded default: sets up .venv, then analyses a phantom LGE case.
# Extra arguments go to the command (for example an input file).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/scarsynth phantom -o output/phantom_case.nii.gz "$@"
