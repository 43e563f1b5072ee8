"""The model card names the shipped logs and gives the whole pipeline's benchmark figures."""

from ScarSegmentLib.model_card import model_card_text
from ScarSegmentLib.segmenter import find_entry


def _report():
    summary = {"dice_myocardium": 0.81, "dice_scar": 0.52, "dice_mvo": 0.31, "dice_scar_all_cases": 0.44,
               "dice_mvo_all_cases": 0.6, "scar_burden_abs_error": 3.456}
    return {"cases": ["Case_A", "Case_B"], "threads": 1, "summary": summary,
            "other_scanner_summary": {**summary, "dice_myocardium": 0.79},
            "per_case": [{"ours_seconds": 2.0, "ours_peak_mb": 60.0, "nnunet_seconds": 16.0, "nnunet_peak_mb": 500.0},
                         {"ours_seconds": 3.6, "ours_peak_mb": 80.4, "nnunet_seconds": 20.0, "nnunet_peak_mb": 524.0},
                         {"ours_seconds": 9.0}]}  # timed only: left out of the side-by-side means


def test_card_without_extras_points_to_the_runs_own_log():
    card = model_card_text(find_entry())
    assert "MODEL_DIR/training_log.csv" in card and "whole pipeline" not in card


def test_card_gives_the_shipped_logs_and_the_benchmark():
    logs = [f"net_training_log_stage{i}.csv" for i in (1, 2, 3)]
    card = model_card_text(find_entry(), logs, _report())
    assert "`net_training_log_stage1.csv` to `net_training_log_stage3.csv`, beside this card" in card
    assert "MODEL_DIR/training_log.csv" not in card
    assert "| held-out cases as stored | 0.810 | 0.520 | 0.310 | 0.440 | 0.600 | 3.46 |" in card
    assert "| the same cases resampled to other grids, orientations and intensity ranges | 0.790 |" in card
    assert "(2 held-out cases)" in card
    assert "side by side on 2 of these cases: 2.8 s and 70 MB, against 18.0 s and 512 MB" in card
    # The retraining command is for one stage of a chain, and says so.
    assert "rebuilds this stage from its parent, not the chain" in card
