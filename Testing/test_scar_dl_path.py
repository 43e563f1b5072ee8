"""The deep-network path of `segment` and `scarsynth segment --method dl`: files and grids.

Checks the plumbing (grid, label numbers, probabilities, metrics), not the network's accuracy,
which the network's own tests measure.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ScarSegmentLib.inference")
phantom_module = pytest.importorskip("LGECore.phantom")

from LGECore.io import read_labels, write_volume  # noqa: E402
from ScarSegmentLib.segment import segment  # noqa: E402


@pytest.fixture(scope="module")
def phantom():
    return phantom_module.make_phantom(seed=5, territory="LCX", transmurality=0.6,
                                       n_slices=4, matrix_size=96)


def test_dl_and_thresholds_inside_the_network_myocardium(phantom):
    network = segment(phantom.image, method="dl", device="cpu")
    assert network.labels.same_grid(phantom.image)
    assert set(np.unique(network.labels.array)) <= {0, 1, 2, 3, 4}
    assert network.probabilities.shape == (5,) + phantom.image.shape
    assert np.allclose(network.probabilities.sum(axis=0), 1.0, atol=1e-3)
    assert network.metrics["weights"]
    if not network.labels.array.any():
        pytest.skip("the network found no heart here; nothing to threshold")
    nsd = segment(phantom.image, method="nsd", n_sd=3, device="cpu")
    assert nsd.metrics["myocardium_source"] == "deep network"
    assert nsd.probabilities is None
    mine, theirs = np.isin(nsd.labels.array, (2, 3, 4)), np.isin(network.labels.array, (2, 3, 4))
    assert np.array_equal(mine, theirs)  # thresholds keep the network's myocardium


def test_cli_dl_writes_probabilities_on_the_input_grid(phantom, tmp_path):
    import SimpleITK as sitk

    write_volume(phantom.image, tmp_path / "lge.nii.gz")
    done = subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", "segment", tmp_path / "lge.nii.gz",
                           "-o", tmp_path / "out", "--device", "cpu"],
                          capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert done.returncode == 0, done.stderr
    read_labels(tmp_path / "out" / "labels.nii.gz", like=phantom.image)
    probabilities = sitk.ReadImage(str(tmp_path / "out" / "probabilities.nii.gz"))
    assert probabilities.GetNumberOfComponentsPerPixel() == 5
    assert probabilities.GetSize() == phantom.image.shape[::-1]
    assert np.allclose(probabilities.GetSpacing(), phantom.image.spacing)
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["method"] == "dl"
