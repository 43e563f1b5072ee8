"""Infarct core and grey zone: both definitions on images whose signal is set voxel by voxel, and
their figures in metrics.json, the label maps, the AHA table and the report."""

import json

import numpy as np
import pytest

from LGECore import labels as L
from LGECore.io import read_labels, write_volume
from LGECore.phantom import make_phantom
from ScarSegmentLib.grey_zone import CORE, GREY_ZONE, OUTSIDE, split_scar

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=4, territory="LAD", transmurality=0.7, mvo=True, look="scanner")


def graded_image(phantom, grey_signal, core_signal):
    """The phantom's labels with a known signal: remote myocardium alternating 90 and 110 (mean
    100, SD 10, peak 110), scar split by columns into `grey_signal` and `core_signal` halves."""
    labels = phantom.labels.array
    image = np.full(labels.shape, 400.0, dtype=np.float32)  # blood pool and the rest
    myocardium = labels == L.MYOCARDIUM
    image[myocardium] = np.where(np.arange(myocardium.sum()) % 2, 110.0, 90.0)
    scar = labels == L.SCAR
    columns = np.nonzero(scar)[2]
    grey_half = np.zeros_like(scar)
    grey_half[scar] = columns < np.median(columns)
    image[scar & grey_half] = grey_signal
    image[scar & ~grey_half] = core_signal
    image[labels == L.MVO] = 20.0
    return phantom.image.with_array(image), grey_half


def test_the_sd_band_splits_the_scar_at_two_and_three_sd(phantom):
    image, grey_half = graded_image(phantom, grey_signal=125.0, core_signal=160.0)  # 2.5 SD and 6 SD
    myocardium = phantom.labels.array == L.MYOCARDIUM
    found = split_scar(image, phantom.labels, "sd", remote=myocardium)
    labels = phantom.labels.array
    assert found.lower_edge == pytest.approx(120.0, abs=0.1) and found.core_threshold == pytest.approx(130.0, abs=0.1)
    assert np.all(found.zones[(labels == L.SCAR) & grey_half] == GREY_ZONE)
    assert np.all(found.zones[(labels == L.SCAR) & ~grey_half] == CORE)
    assert np.all(found.zones[labels == L.MVO] == CORE)  # dark, yet the most damaged tissue
    assert np.all(found.zones[~L.scar(labels)] == OUTSIDE)


def test_the_max_band_runs_from_the_remote_peak_to_half_the_maximum(phantom):
    # Maximum 1000, remote mean 100: half the maximum above the remote mean is 550.
    image, grey_half = graded_image(phantom, grey_signal=400.0, core_signal=1000.0)
    labels = phantom.labels.array
    found = split_scar(image, phantom.labels, "max", remote=labels == L.MYOCARDIUM)
    assert found.lower_edge == pytest.approx(110.0) and found.core_threshold == pytest.approx(550.0)
    assert np.all(found.zones[(labels == L.SCAR) & grey_half] == GREY_ZONE)
    assert np.all(found.zones[(labels == L.SCAR) & ~grey_half] == CORE)
    dim, _ = graded_image(phantom, grey_signal=105.0, core_signal=1000.0)  # below the remote peak
    dimmer = split_scar(dim, phantom.labels, "max", remote=labels == L.MYOCARDIUM)
    assert np.all(dimmer.zones[(labels == L.SCAR) & grey_half] == OUTSIDE)


def test_a_heart_without_scar_has_neither_and_an_unknown_definition_is_refused(phantom):
    from LGECore.errors import InputError

    normal = make_phantom(seed=3, look="scanner")
    assert not split_scar(normal.image, normal.labels, "max").zones.any()
    with pytest.raises(InputError, match="Unknown grey-zone definition"):
        split_scar(phantom.image, phantom.labels, "half")


def test_segment_and_run_report_core_and_grey_zone_everywhere(phantom, tmp_path, capsys):
    from ScarSynthLib.cli import main

    image, _ = graded_image(phantom, grey_signal=125.0, core_signal=160.0)
    write_volume(image, tmp_path / "lge.nii.gz")
    write_volume(phantom.labels, tmp_path / "contours.nii.gz")
    assert main(["run", str(tmp_path / "lge.nii.gz"), "-o", str(tmp_path / "out"), "--method", "nsd", "--sd", "2",
                 "--myocardium", str(tmp_path / "contours.nii.gz")]) == 0
    out = tmp_path / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    labels = read_labels(out / "labels.nii.gz")
    for definition in ("sd", "max"):
        zones = read_labels(out / f"grey_zone_{definition}.nii.gz").array
        assert set(np.unique(zones)) <= {0, 1, 2} and not np.any(zones[~L.scar(labels.array)])
        core_ml = float((zones == 1).sum()) * labels.voxel_volume_ml
        assert metrics[f"infarct_core_{definition}_volume_ml"] == pytest.approx(core_ml)
        assert metrics[f"infarct_core_{definition}_mass_g"] == pytest.approx(core_ml * 1.05)
        assert (metrics[f"infarct_core_{definition}_volume_ml"] + metrics[f"grey_zone_{definition}_volume_ml"]
                <= metrics["scar_volume_ml"] + 1e-9)
    assert metrics["grey_zone_sd_volume_ml"] > 1.0  # the 125-signal half of the scar
    table = json.loads((out / "aha.json").read_text())
    segments = table["segments"]
    assert sum(row["grey_zone_sd_ml"] for row in segments) == pytest.approx(table["total"]["grey_zone_sd_ml"])
    assert table["total"]["grey_zone_sd_ml"] == pytest.approx(metrics["grey_zone_sd_volume_ml"], rel=0.05)
    assert "grey_zone_max_percent" in (out / "aha.csv").read_text().splitlines()[0]
    assert "Grey zone (2-3 SD) volume" in (out / "report.md").read_text()


def test_on_real_infarcts_the_experts_scar_splits_into_a_core_and_a_grey_zone(emidec_dir):
    """On the experts' scar of real infarct cases, both definitions find a core in every case and
    a grey zone in most (a real infarct's border is dimmer than its core), inside the scar only."""
    from LGECore.io import read_emidec_dataset
    from ScarSegmentLib.grey_zone import measure_zones

    cases = [case for case in read_emidec_dataset(emidec_dir) if case.has_infarct][:6]
    with_grey_zone = 0
    for case in cases:
        image, labels = case.load()
        found, metrics, _ = measure_zones(image, labels)
        scar = L.scar(labels.array)
        for definition, zones in found.items():
            assert not zones.zones[~scar].any() and np.all(zones.zones[labels.array == L.MVO] == CORE)
            assert metrics[f"infarct_core_{definition}_volume_ml"] > 0, (case.name, definition)
        with_grey_zone += metrics["grey_zone_sd_volume_ml"] > 0 and metrics["grey_zone_max_volume_ml"] > 0
    assert with_grey_zone > len(cases) // 2  # measured: 4 of these 6 have both
