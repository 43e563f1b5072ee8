"""The LGE phantom: labels, intensities, true AHA map, truth JSON, geometry and the CLI."""

import json

import numpy as np
import pytest
from scipy import ndimage

from LGECore import io
from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.phantom import make_phantom
from LGECore.phantom_cli import output_paths
from LGECore.territories import TERRITORIES
from ScarSynthLib import cli

IN_PLANE = np.zeros((3, 3, 3), bool)
IN_PLANE[1] = True  # 3x3 neighbourhood within a slice


@pytest.fixture(scope="module")
def lad():
    return make_phantom(seed=3, territory="LAD", transmurality=0.8, mvo=True)


@pytest.fixture(scope="module")
def plain():
    return make_phantom(seed=5)


def _ring_slices(p, role=None):
    return [k for k, r in enumerate(p.truth["slice_roles"])
            if r not in (None, "apex") and (role is None or r == role)]


def test_label_values_and_anatomy(lad):
    labels = lad.labels.array
    assert labels.dtype == np.uint8
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4, 5}
    myo = L.lv_myocardium(labels)
    # The myocardium closes around the blood pool in every ring slice.
    blood = labels == L.BLOOD_POOL
    grown = ndimage.binary_dilation(blood, IN_PLANE)
    assert np.all(np.isin(labels[grown], (1, 2, 3, 4)))
    for k in _ring_slices(lad):
        assert blood[k].any() and myo[k].any()
    # Apical cap: myocardium without blood pool at the apex end (slice 0 here).
    roles = lad.truth["slice_roles"]
    assert roles[0] == "apex" and myo[0].any() and not blood[0].any()
    # Scar and MVO lie in the LV wall: within the true AHA map, MVO touches scar.
    assert np.all(lad.aha_segments.array[L.scar(labels)] > 0)
    mvo_components, n = ndimage.label(labels == L.MVO)
    assert n > 0
    near_scar = ndimage.binary_dilation(labels == L.SCAR, IN_PLANE)
    for c in range(1, n + 1):
        assert near_scar[mvo_components == c].any()
    # The RV touches the LV myocardium (the septum) in the mid slices.
    for k in _ring_slices(lad, "mid"):
        rv_grown = ndimage.binary_dilation(labels[k] == L.RV_BLOOD_POOL)
        assert (rv_grown & myo[k]).sum() > 5


def test_rv_contact_is_septal(plain):
    p = plain
    labels, truth = p.labels.array, p.truth
    a, s = np.array(truth["anterior_lps"]), np.array(truth["septal_lps"])
    for k in _ring_slices(p, "mid"):
        contact = ndimage.binary_dilation(labels[k] == L.RV_BLOOD_POOL) & L.lv_myocardium(labels[k])
        yx = np.argwhere(contact)
        points = p.labels.index_to_lps(np.column_stack([np.full(len(yx), k), yx]))
        d = points - np.array(truth["lv_centres_lps"][k])
        theta = np.rad2deg(np.arctan2(d @ s, d @ a)) % 360
        assert np.all((theta > 10) & (theta < 175))  # between anterior and inferior, via the septum


def _label_means(p):
    image, labels = p.image.array, p.labels.array
    assert image.dtype == np.float32 and np.all(np.isfinite(image)) and image.min() >= 0
    return {k: image[labels == k].mean() for k in range(0, 6)}


def test_lge_intensity_order(lad):
    # Default look: the low-contrast grey levels of the 8-bit EMIDEC export.
    mean = _label_means(lad)
    assert mean[L.SCAR] > mean[L.BLOOD_POOL] > mean[L.MYOCARDIUM] + 8
    assert mean[L.RV_BLOOD_POOL] > mean[L.MYOCARDIUM] + 8
    assert mean[L.MVO] < mean[L.SCAR] - 5
    assert 130 < mean[L.BLOOD_POOL] < 190 and 110 < mean[L.MYOCARDIUM] < 170


def test_scanner_look_nulls_myocardium():
    p = make_phantom(seed=3, n_slices=8, matrix_size=128, territory="LAD", transmurality=0.8,
                     mvo=True, look="scanner")
    mean = _label_means(p)
    assert mean[L.SCAR] > mean[L.BLOOD_POOL] > 3 * mean[L.MYOCARDIUM]
    assert mean[L.MVO] < 0.6 * mean[L.SCAR]
    assert mean[L.RV_BLOOD_POOL] > 3 * mean[L.MYOCARDIUM]


def test_psir_look_puts_myocardium_below_air():
    """Phase-sensitive reconstruction: signed signal stored with an offset, Gaussian noise on air,
    healthy myocardium darker than air, blood and scar far brighter."""
    from LGECore.phantom_intensity import PSIR_OFFSET

    p = make_phantom(seed=6, n_slices=8, matrix_size=128, territory="LAD", transmurality=0.8,
                     mvo=True, look="psir")
    median = {label: float(np.median(p.image.array[p.labels.array == label])) for label in range(5)}
    corners = [p.image.array[:, rows, columns] for rows in (slice(0, 12), slice(-12, None))
               for columns in (slice(0, 12), slice(-12, None))]
    air = min(corners, key=np.std)  # a corner outside the body: noise only
    assert abs(float(air.mean()) - PSIR_OFFSET) < 2.0 and float(air.min()) < PSIR_OFFSET - 5
    assert median[L.MYOCARDIUM] < float(np.median(air)) - 10
    assert median[L.BLOOD_POOL] > PSIR_OFFSET + 100 and median[L.SCAR] > PSIR_OFFSET + 100


def test_deterministic_by_seed():
    first = make_phantom(seed=11, n_slices=6, matrix_size=96, scar_segments=(4, 10))
    again = make_phantom(seed=11, n_slices=6, matrix_size=96, scar_segments=(4, 10))
    other = make_phantom(seed=12, n_slices=6, matrix_size=96, scar_segments=(4, 10))
    assert np.array_equal(first.image.array, again.image.array)
    assert np.array_equal(first.labels.array, again.labels.array)
    assert json.dumps(first.truth) == json.dumps(again.truth)
    assert not np.array_equal(first.labels.array, other.labels.array)
    assert first.truth["insertion_angles_deg"] != other.truth["insertion_angles_deg"]


def test_truth_matches_labels(lad):
    labels, aha, truth = lad.labels.array, lad.aha_segments.array, lad.truth
    json.dumps(truth)
    assert truth["scar_voxels"] == int(L.scar(labels).sum()) > 0
    assert truth["mvo_voxels"] == int((labels == L.MVO).sum()) > 0
    myo = L.lv_myocardium(labels)
    assert np.array_equal(aha > 0, myo)
    for segment in range(1, 18):
        n = (myo & (aha == segment)).sum()
        assert n > 0, segment
        percent = 100.0 * (L.scar(labels) & (aha == segment)).sum() / n
        assert truth["scar_percent_by_segment"][str(segment)] == pytest.approx(percent, abs=1e-2)
    # Insertion points lie on the LV epicardium where the RV meets it.
    for side in ("anterior", "inferior"):
        for k, point in enumerate(truth["insertion_points_lps"][side]):
            if point is None:
                continue
            z, y, x = np.round(lad.labels.lps_to_index(np.array([point]))[0]).astype(int)
            assert z == k
            window = labels[k, y - 2:y + 3, x - 2:x + 3]
            assert np.isin(window, (2, 3, 4)).any() and (window == L.RV_BLOOD_POOL).any()
    representative = truth["representative_insertion_points_lps"]
    assert truth["slice_roles"][representative["slice"]] == "mid"


def test_scar_only_in_requested_segments():
    p = make_phantom(seed=7, n_slices=9, matrix_size=128, scar_segments=(9, 10, 15), transmurality=1.0)
    scar_segments = set(np.unique(p.aha_segments.array[L.scar(p.labels.array)]).tolist())
    assert scar_segments == {9, 10, 15}
    percent = p.truth["scar_percent_by_segment"]
    assert all(percent[str(s)] == 0 for s in range(1, 18) if s not in (9, 10, 15))
    # Full transmurality: scar reaches the epicardium in the middle of the region.
    assert percent["9"] > 70
    low = make_phantom(seed=7, n_slices=9, matrix_size=128, scar_segments=(9, 10, 15), transmurality=0.3)
    assert 0 < low.truth["scar_voxels"] < 0.6 * p.truth["scar_voxels"]
    rca = make_phantom(seed=7, n_slices=9, matrix_size=128, territory="RCA", transmurality=0.2)
    scar = L.scar(rca.labels.array)
    assert set(np.unique(rca.aha_segments.array[scar]).tolist()) <= set(TERRITORIES["RCA"])
    # Even thin subendocardial scar is one piece in every slice that holds it.
    for k in range(scar.shape[0]):
        if scar[k].any():
            assert ndimage.label(scar[k], np.ones((3, 3)))[1] == 1


def test_true_aha_map_follows_the_rule(plain):
    p, truth = plain, plain.truth
    roles = [r for r in truth["slice_roles"] if r is not None]
    rings = [r for r in roles if r != "apex"]
    third, rest = divmod(len(rings), 3)
    assert rings.count("apical") == third
    assert rings.count("basal") == third + (rest >= 1)
    a, s = np.array(truth["anterior_lps"]), np.array(truth["septal_lps"])
    k = truth["representative_insertion_points_lps"]["slice"]
    centre = np.array(truth["lv_centres_lps"][k])
    yx = np.argwhere(p.aha_segments.array[k] > 0)
    points = p.labels.index_to_lps(np.column_stack([np.full(len(yx), k), yx]))
    theta = np.rad2deg(np.arctan2((points - centre) @ s, (points - centre) @ a)) % 360
    segment = p.aha_segments.array[k][tuple(yx.T)]
    # Boundary 7|8 at the anterior insertion point, 9|10 at the inferior one.
    angle = {}
    for side in ("anterior", "inferior"):
        d = np.array(truth["insertion_points_lps"][side][k]) - centre
        angle[side] = np.rad2deg(np.arctan2(d @ s, d @ a)) % 360
    near_anterior = np.abs((theta - angle["anterior"] + 180) % 360 - 180) < 20
    assert set(segment[near_anterior]) == {7, 8}
    assert np.all(segment[near_anterior & ((theta - angle["anterior"]) % 360 < 180)] == 8)
    near_inferior = np.abs((theta - angle["inferior"] + 180) % 360 - 180) < 20
    assert set(segment[near_inferior]) == {9, 10}
    # Numbers run anticlockwise (increasing theta) from 7 to 12.
    order = [np.rad2deg(np.angle(np.exp(1j * np.deg2rad(theta[segment == n])).mean())) for n in range(7, 13)]
    steps = np.diff(np.unwrap(np.deg2rad(order)))
    assert np.all(steps > 0)


def test_apex_last_flips_the_stack(plain):
    last = make_phantom(seed=5, apex_first=False)
    assert np.array_equal(last.labels.array, plain.labels.array[::-1])
    assert np.array_equal(last.aha_segments.array, plain.aha_segments.array[::-1])
    assert last.truth["slice_roles"] == plain.truth["slice_roles"][::-1]
    assert np.allclose(last.truth["long_axis_lps"], plain.truth["long_axis_lps"])
    assert np.allclose(last.labels.slice_normal(), plain.truth["long_axis_lps"])
    assert np.allclose(plain.labels.slice_normal(), -np.array(plain.truth["long_axis_lps"]))


def test_default_orientation_is_anatomical(plain):
    u, a, s = (np.array(plain.truth[k]) for k in ("long_axis_lps", "anterior_lps", "septal_lps"))
    assert u @ np.array([0.6, -0.5, -0.6]) / np.linalg.norm([0.6, -0.5, -0.6]) > 0.8
    assert np.allclose(np.cross(a, s), u)
    assert a @ [0, -1, 0] > 0.5 and s @ [-1, 0, 0] > 0.3
    assert not np.allclose(plain.labels.direction, np.eye(3))


def test_given_direction_and_spacing():
    angle = np.deg2rad(30)
    direction = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    coarse = make_phantom(seed=2, n_slices=8, pixel_spacing=1.5, slice_spacing=8.0, matrix_size=128,
                          direction=direction)
    fine = make_phantom(seed=2, n_slices=8, pixel_spacing=1.0, slice_spacing=8.0, matrix_size=192,
                        direction=direction)
    for p in (coarse, fine):
        assert np.allclose(p.labels.direction, direction)
        u = np.array(p.truth["long_axis_lps"])
        assert np.allclose(u, -direction[:, 2])
        centres = np.array([c for c in p.truth["lv_centres_lps"] if c is not None])
        off_axis = (centres - centres[0]) - np.outer((centres - centres[0]) @ u, u)
        assert np.linalg.norm(off_axis, axis=1).max() < 3.0  # the LV axis is the slice normal
    ml = [L.lv_myocardium(p.labels.array).sum() * p.labels.voxel_volume_ml for p in (coarse, fine)]
    assert 60 < ml[0] < 250 and ml[1] == pytest.approx(ml[0], rel=0.08)


def test_bad_arguments():
    for kwargs in (dict(n_slices=1), dict(transmurality=2.0), dict(scar_segments=(18,)),
                   dict(territory="XYZ"), dict(mvo=True), dict(pixel_spacing=-1),
                   dict(direction=np.ones((3, 3))), dict(look="pretty"),
                   dict(territory="LAD", mvo=True, transmurality=0.3)):
        with pytest.raises(InputError):
            make_phantom(**kwargs)


def test_cli_writes_all_files(tmp_path, capsys):
    out = tmp_path / "run" / "case.nii.gz"
    assert cli.main(["phantom", "-o", str(out), "--seed", "3", "--slices", "6", "--matrix", "96",
                     "--segments", "1,7", "--mvo", "--transmurality", "0.9"]) == 0
    paths = output_paths(out)
    image = io.read_image(paths["image"])
    labels = io.read_labels(paths["labels"], like=image)
    aha = io.read_image(paths["aha"])
    truth = json.loads(paths["truth"].read_text())
    assert image.shape == (6, 96, 96) and truth["seed"] == 3
    assert truth["scar_voxels"] == int(L.scar(labels.array).sum()) > 0
    assert set(np.unique(aha.array[L.scar(labels.array)]).astype(int)) <= {1, 7}
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(p.name for p in paths.values())


@pytest.mark.parametrize("bad", [["--slices", "1"], ["--transmurality", "2"], ["--segments", "1,x"],
                                 ["--segments", "0,3"]])
def test_cli_bad_arguments_write_nothing(tmp_path, capsys, bad):
    out = tmp_path / "run" / "case.nii.gz"
    assert cli.main(["phantom", "-o", str(out)] + bad) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
