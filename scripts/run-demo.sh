#!/usr/bin/env bash
# The main job on the embedded default: sets up .venv, then analyses a phantom LGE case
# (segmentation, AHA 17-segment bullseye, report in output/demo/report.html).
# Extra arguments go to the command (for example an input file).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/scarsynth run -o output/demo "$@"
