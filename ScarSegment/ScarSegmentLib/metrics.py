"""Dice per structure (LV myocardium, scar, MVO) and scar burden, as EMIDEC scores them."""

import numpy as np

from LGECore import labels as L

STRUCTURES = {
    "myocardium": L.LV_MYOCARDIUM_LABELS,
    "scar": L.SCAR_LABELS,
    "mvo": (L.MVO,),
    "blood_pool": (L.BLOOD_POOL,),
}


def dice(prediction, truth):
    """Dice of two boolean masks; None when both are empty (nothing to score)."""
    total = int(prediction.sum()) + int(truth.sum())
    if total == 0:
        return None
    return 2.0 * int(np.logical_and(prediction, truth).sum()) / total


def case_scores(predicted_labels, true_labels):
    """Per-structure Dice of one case (None where the structure is in neither) and scar burdens (%)."""
    scores = {}
    for name, values in STRUCTURES.items():
        scores[name] = dice(np.isin(predicted_labels, values), np.isin(true_labels, values))
    for which, labels in (("predicted", predicted_labels), ("true", true_labels)):
        myocardium = int(L.lv_myocardium(labels).sum())
        scores[f"{which}_scar_burden"] = 100.0 * int(L.scar(labels).sum()) / max(myocardium, 1)
    return scores


def summarise(per_case, true_presence):
    """Mean Dice per structure over the cases whose truth holds it; mean absolute burden error.

    `true_presence[name]` lists, per case, whether the true labels hold that structure.
    `dice_<name>_all_cases` averages over every case instead, counting 1 where both are empty (as
    the EMIDEC challenge and `scarsynth evaluate` do): a case without scar then scores 1 when none
    is drawn and 0 for any speck, so that mean rewards normal hearts left clean.
    """
    summary = {}
    for name in STRUCTURES:
        values = [scores[name] or 0.0 for scores, present in zip(per_case, true_presence[name]) if present]
        summary[f"dice_{name}"] = float(np.mean(values)) if values else float("nan")
        summary[f"cases_with_{name}"] = len(values)
        every_case = [1.0 if scores[name] is None else scores[name] for scores in per_case]
        summary[f"dice_{name}_all_cases"] = float(np.mean(every_case)) if every_case else float("nan")
    errors = [abs(s["predicted_scar_burden"] - s["true_scar_burden"]) for s in per_case]
    summary["scar_burden_abs_error"] = float(np.mean(errors)) if errors else float("nan")
    return summary


def score_cases(predictions, truths):
    """Summary scores for lists of predicted and true label arrays (one per case)."""
    per_case = [case_scores(p, t) for p, t in zip(predictions, truths)]
    presence = {name: [bool(np.isin(t, values).any()) for t in truths] for name, values in STRUCTURES.items()}
    return summarise(per_case, presence), per_case
