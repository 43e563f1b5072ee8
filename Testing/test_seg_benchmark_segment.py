"""benchmarks/segment.py --held-out-of: a model is scored on the cases another model held out, and
refused where it trained on any of them (that would show fit, not generalisation)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import segment  # noqa: E402


def test_a_model_is_scored_on_the_cases_another_model_held_out():
    from ScarSegmentLib.segmenter import WEIGHTS_DIR

    shipped = json.loads((Path(WEIGHTS_DIR) / "scar_segmenter_2d.json").read_text())["training"]["validation_cases"]
    unseen = {"name": "cascade", "training": {"train_cases": ["Case_N012", "Phantom_001"], "held_out_cases": []}}
    assert segment.scored_cases(unseen, "scar_segmenter_2d") == shipped
    assert segment.scored_cases({"training": {"held_out_cases": ["Case_N012"]}}) == ["Case_N012"]
    seen = {"name": "cascade", "training": {"train_cases": ["Case_N012", shipped[0]]}}
    with pytest.raises(SystemExit, match="trained on 1 of the cases"):
        segment.scored_cases(seen, "scar_segmenter_2d")
