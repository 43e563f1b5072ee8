"""AHA segmentation on real EMIDEC stacks (no RV label, 1 mm placeholder spacing)."""

import numpy as np

from AHABullseyeLib.aha import segment_aha
from AHABullseyeLib.quantify import quantify_aha
from LGECore import labels as L
from LGECore.io import read_emidec_dataset

CASES = ("Case_N006", "Case_P001", "Case_P010")


def test_real_cases_get_every_myocardium_voxel_a_segment(emidec_dir):
    cases = {c.name: c for c in read_emidec_dataset(emidec_dir)}
    for name in CASES:
        _, labels = cases[name].load()
        result = segment_aha(labels)
        myocardium = L.lv_myocardium(labels.array)
        segments = result.segments.array
        assert np.all((segments[myocardium] >= 1) & (segments[myocardium] <= 17)), name
        assert not segments[~myocardium].any(), name
        # EMIDEC: identity direction, so the apex comes from anatomy; index 0 is the apex there.
        assert (result.apex_side, result.apex_source) == ("first", "anatomy"), name
        assert result.insertion_source == "assumed"
        assert any("ASSUMED" in w for w in result.warnings)
        table = quantify_aha(labels, result)
        expected_scar = int(L.scar(labels.array).sum())
        assert round(table["total"]["scar_ml"] * 1000) == expected_scar  # 1 mm^3 voxels
        rings = [r for r in table["segments"] if r["segment"] <= 16]
        assert all(r["myocardium_ml"] > 0 for r in rings), name  # every ring segment is populated
