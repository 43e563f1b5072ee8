"""Per-segment quantification, wall depth and transmurality on the phantom."""

import numpy as np
import pytest

from AHABullseyeLib.aha import segment_aha
from AHABullseyeLib.aha_model import SEGMENT_NAMES, TERRITORIES, territory_of, transmurality_class
from AHABullseyeLib.quantify import COLUMNS, quantify_aha
from AHABullseyeLib.wall import wall_depth
from LGECore import labels as L
from LGECore.phantom import make_phantom

SMALL = dict(matrix_size=128, pixel_spacing=1.6)


@pytest.fixture(scope="module")
def lad_phantom():
    return make_phantom(seed=11, territory="LAD", transmurality=0.5, mvo=True, **SMALL)


@pytest.fixture(scope="module")
def lad_table(lad_phantom):
    return quantify_aha(lad_phantom.labels, segment_aha(lad_phantom.labels))


def test_rows_columns_and_names(lad_table):
    rows = lad_table["segments"]
    assert [r["segment"] for r in rows] == list(range(1, 18))
    for row in rows + [lad_table["total"]] + lad_table["territories"]:
        assert tuple(row) == COLUMNS
    assert [r["name"] for r in rows] == [SEGMENT_NAMES[s] for s in range(1, 18)]
    assert [r["territory"] for r in rows] == [territory_of(s) for s in range(1, 18)]
    assert [r["segment"] for r in lad_table["territories"]] == ["LAD", "RCA", "LCX"]


def test_totals_add_up(lad_phantom, lad_table):
    labels = lad_phantom.labels
    voxel_ml = labels.voxel_volume_ml
    total = lad_table["total"]
    assert total["myocardium_ml"] == pytest.approx(L.lv_myocardium(labels.array).sum() * voxel_ml, abs=1e-3)
    assert total["scar_ml"] == pytest.approx(L.scar(labels.array).sum() * voxel_ml, abs=1e-3)
    assert total["mvo_ml"] == pytest.approx((labels.array == L.MVO).sum() * voxel_ml, abs=1e-3)
    assert total["mvo_ml"] > 0
    for column in ("myocardium_ml", "scar_ml", "mvo_ml"):
        assert sum(r[column] for r in lad_table["segments"]) == pytest.approx(total[column], abs=0.01)
        assert sum(r[column] for r in lad_table["territories"]) == pytest.approx(total[column], abs=0.01)
    for row in lad_table["segments"]:
        assert row["scar_g"] == pytest.approx(row["scar_ml"] * L.SCAR_DENSITY_G_PER_ML, abs=1e-3)
        assert row["mvo_ml"] <= row["scar_ml"] <= row["myocardium_ml"]


def test_scar_stays_in_its_territory(lad_table):
    by_name = {r["segment"]: r for r in lad_table["territories"]}
    assert by_name["LAD"]["scar_percent"] > 20.0
    assert by_name["RCA"]["scar_percent"] < 2.0
    assert by_name["LCX"]["scar_percent"] < 2.0


def test_transmurality_follows_the_phantom():
    # Scar grown from the endocardium to a set fraction of the wall (tapered at the region's
    # sides): the segments in the middle of the region show about that transmurality.
    for transmurality, expected_class in ((0.35, "26-50"), (1.0, "76-100")):
        phantom = make_phantom(seed=12, scar_segments=(8, 9, 10), transmurality=transmurality, **SMALL)
        table = quantify_aha(phantom.labels, segment_aha(phantom.labels))
        middle = table["segments"][9 - 1]
        assert middle["transmurality_mean_percent"] == pytest.approx(100 * transmurality, abs=12)
        assert middle["transmurality_class"] == expected_class
        unscarred = table["segments"][5 - 1]
        assert (unscarred["transmurality_mean_percent"], unscarred["transmurality_class"]) == (0.0, "0")


def test_wall_depth_runs_from_endocardium_to_epicardium(lad_phantom):
    labels = lad_phantom.labels
    depth = wall_depth(labels)
    myocardium = L.lv_myocardium(labels.array)
    assert depth.dtype == np.float32 and depth.shape == labels.shape
    assert np.all(np.isnan(depth[~myocardium]))
    assert np.all((depth[myocardium] >= 0) & (depth[myocardium] <= 1))
    # Voxels touching the blood pool are shallow, those touching the outside deep.
    blood = labels.array == L.BLOOD_POOL
    next_to_blood = myocardium & (np.roll(blood, 1, axis=2) | np.roll(blood, -1, axis=2))
    assert np.nanmean(depth[next_to_blood]) < 0.3
    # The phantom's scar grows from the endocardium to half the wall: shallow voxels are scar.
    scar = L.scar(labels.array)
    in_lad = np.isin(lad_phantom.aha_segments.array, (7, 8))
    assert scar[in_lad & (depth < 0.25)].mean() > 0.8
    assert scar[in_lad & (depth > 0.75)].mean() < 0.2


def test_transmurality_classes():
    assert [transmurality_class(p) for p in (0, 0.2, 25, 25.4, 26, 50, 51, 75, 76, 100)] == [
        "0", "1-25", "1-25", "1-25", "26-50", "26-50", "51-75", "51-75", "76-100", "76-100"]
    assert transmurality_class(None) == ""
    assert sorted(s for t in TERRITORIES.values() for s in t) == list(range(1, 18))
