#!/usr/bin/env bash
# Creates .venv at the repository root (once) and installs ScarSynth into it with its test tools.
# torch is pinned by constraints.txt so that pip never pulls a different build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.scarsynth-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints.txt torch==2.13.0
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
    .venv/bin/python -m pip check
    touch "$stamp"
fi
