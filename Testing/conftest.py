"""Shared test set-up: the module folders on sys.path, and the real data folder when present."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
for module in ("AHABullseye", "ScarSegment", "ScarSynth"):
    path = str(REPO / module)
    if path not in sys.path:
        sys.path.insert(0, path)

# Tests run CLI commands as subprocesses with the same module folders.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO)] + [str(REPO / m) for m in ("AHABullseye", "ScarSegment", "ScarSynth")]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

# The EMIDEC training set (Case_*/Images, Case_*/Contours): SCARSYNTH_EMIDEC, else data/emidec here.
EMIDEC = Path(os.environ.get("SCARSYNTH_EMIDEC", REPO / "data" / "emidec"))


@pytest.fixture(scope="session")
def emidec_dir():
    """The real EMIDEC-layout data folder; skips the test where it is absent."""
    if not (EMIDEC / "cases.csv").exists() and not any(EMIDEC.glob("Case_*")):
        pytest.skip(f"real data not found at {EMIDEC}")
    return EMIDEC


@pytest.fixture(scope="session")
def linked_cases(emidec_dir, tmp_path_factory):
    """linked_cases(*names): a new EMIDEC-layout folder of links to those real cases."""
    def link(*names):
        root = tmp_path_factory.mktemp("small_emidec")
        for name in names:
            (root / name).symlink_to(emidec_dir / name)
        return root
    return link


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread: on a busy shared CPU, two threads of small ops wait on each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
