"""The model card (NAME.md) of a trained cascade, from its registry entry (with, once
benchmarks/cv.py has added it, the cross-validation table of the recipe)."""

from .cascade_config import ANATOMY, SCAR, extra_train_networks
from .weak_card import rebuild_command, weak_supervision_text


def _minutes(seconds):
    return f"{seconds / 60.0:.0f} min"


def _stage_text(role, stage):
    network = stage["network"]
    return (f"- **{role}** network: MONAI 2D residual U-Net, features {network['channels']}, "
            f"{network['patch_size']}x{network['patch_size']} patches of {network['pixel_spacing_mm']} mm pixels, "
            f"{stage['epochs']} x {stage['iterations_per_epoch']} steps of {stage['batch_size']}, AdamW at "
            f"{stage['learning_rate']:g} with cosine decay, Dice + cross-entropy (weights "
            f"{tuple(stage['class_weights'])}){_kl_text(stage)}; {_augmentation_text(stage)}; bfloat16 autocast"
            f"{_sampling_text(stage)}.")


def _kl_text(stage):
    if not stage["kl_weight"]:
        return ""
    return f" + {stage['kl_weight']:g} x KL to labels smoothed by {stage['kl_sigma']:g} pixel"


def _augmentation_text(stage):
    """The recipe's augmentation (entries older than these settings had the defaults)."""
    turns = "any in-plane angle and flips" if stage.get("rotation", True) else "right-angle turns and flips"
    scale = stage.get("scale", 0.15)
    zoom = f", zoom +-{100 * scale:g} %" if scale else ""
    # The scar network's input is normalised to the myocardium, which cancels contrast and brightness.
    looks = "gamma and noise" if stage["network"].get("anatomy_channels") else "gamma, contrast, brightness and noise"
    extra = f", Gaussian blur up to {stage['blur']:g} pixel" if stage.get("blur") else ""
    extra += f", an image edge near the LV in {100 * stage['edge_cuts']:g} %" if stage.get("edge_cuts") else ""
    extra += (f", anatomy input missing part of the scar in {100 * stage['anatomy_misses']:g} %"
              if stage.get("anatomy_misses") else "")
    return f"augmentation: {turns}{zoom}{extra}, {looks} at strength {stage.get('intensity', 1.0):g}"


def _sampling_text(stage):
    """How the stage draws its slices and reads its outputs. Anatomy networks drew slices with scar
    more often only from the recipe that gave them a separate infarcted-myocardium output on."""
    network = stage["network"]
    scar, mvo = stage.get("positive_oversampling", 0.0), stage.get("mvo_oversampling", 0.0)
    oversampled = f"slices with scar drawn {1 + scar:g} times as often ({1 + scar + mvo:g} with MVO)"
    if network.get("class_groups"):
        return (f"; {network['num_classes']} outputs read as {len(network['class_groups'])} classes (infarcted "
                f"myocardium learnt apart, read as myocardium); {oversampled}")
    claim = (f"; its scar also counts in blood-pool and background pixels within {network['claims_border_px']} "
             "pixels of the anatomy's myocardium") if network.get("claims_border_px") else ""
    return f"; {oversampled}{claim}" if network.get("anatomy_channels") else ""


CV_KEYS = ("myocardium", "scar", "mvo", "normals_with_scar", "median_burden_error")


def _table_lines(table):
    lines = ["| fold | myocardium | scar (infarct cases) | MVO (MVO cases) | normals with scar | "
             "median burden error (points) |", "|---|---|---|---|---|---|"]
    for row in table["folds"]:
        lines.append(f"| {row['fold']} | " + " | ".join(f"{row[key]:.3f}" for key in CV_KEYS) + " |")
    lines.append("| mean (SD) | " + " | ".join(f"{table['mean'][key]:.3f} ({table['sd'][key]:.3f})"
                                            for key in CV_KEYS) + " |")
    return lines


def _cv_text(cross_validation):
    if not (cross_validation or {}).get("folds"):
        return ("No cross-validation table was given for this model; `python benchmarks/cv.py` measures one "
                "(5 folds by case, stratified over normal, infarct and MVO hearts, whole pipeline).\n")
    lines = [f"Whole `scarsynth segment` pipeline on the held-out fold of each of {len(cross_validation['folds'])} "
             "stratified folds by case (`benchmarks/cv.py`); each fold's model was trained with this model's "
             "command and `--fold K/5`, on the other cases; labels as the plain argmax of the probabilities. Dice "
             "per case, averaged over the cases that hold the structure; the share of normal hearts given any "
             "scar; the median absolute scar-burden error in points of myocardium.\n", *_table_lines(cross_validation)]
    classifier = cross_validation.get("classifier_auroc")
    if classifier:
        lines.append("\nThe weak classifier's AUROC on the held-out fold (its own level), fold by fold: " + ", ".join(
            f"{fold} {value:.3f}" for fold, value in classifier.items()) + ".")
    presence = cross_validation.get("scar_presence")
    if presence:
        lines.append(f"\nThe pipeline's probability that scar is present (`scar_presence`), pooled over the "
                     f"{presence['cases']} held-out cases: AUROC per stack {presence['auroc_per_stack']:.3f}, per "
                     f"slice {presence['auroc_per_slice']:.3f}.")
    fit = cross_validation.get("training_cases")
    if fit:
        lines.append(f"\nOn {fit['cases']} of their own training cases the same fold models reach " + ", ".join(
            f"{key.replace('_', ' ')} {fit[key]:.3f}" for key in CV_KEYS) + " (fit, against the held-out figures above).")
    return "\n".join(lines) + "\n"


def _calibration_text(entry):
    values, calibration = entry.get("postprocessing"), entry.get("calibration")
    if not values:
        return "Labels are the plain argmax of the probabilities, cleaned up.\n"
    text = (f"Labels are taken with {values.get('scar_log_bias', 0):g} added to the scar and MVO log probabilities, "
            f"and a case's scar is dropped when it is under {values.get('min_scar_burden_percent', 0):g}% of the "
            "myocardium (`postprocessing` in the registry entry), as `benchmarks/scar_calibration.py` chose them on "
            "the cross-validated predictions of all folds.\n")
    if calibration:
        text += ("\nChosen for each fold on the other folds only (nested), they give, on the same held-out "
                 "cases as above:\n\n" + "\n".join(_table_lines(calibration["calibrated"])) + "\n")
    return text


def _real(training):
    extra = {name for names in training.get("extra_train_cases", {}).values() for name in names}
    return [name for name in training["train_cases"] if not name.startswith("Phantom_") and name not in extra]


_HEARTS = {"normal": "normal hearts", "infarct": "infarct hearts", "both": "normal and infarct hearts"}


def _extra_text(training):
    sets = training.get("extra_train_cases")
    if not sets:
        return ""
    listed = ", ".join(f"{len(names)} from `{folder}`" for folder, names in sets.items())
    networks = extra_train_networks(training["config"])
    which = "Both networks were" if len(networks) == 2 else f"The {networks[0]} network alone was"
    made = training["config"].get("synthetic_set")
    if made:  # train-seg --synthetic drew them on the run's own training hearts
        return (f"\n{which} also trained on {made['cases']} synthetic cases ({listed}), which the diffusion generator "
                f"`{made['generator']}` (sha256 {made['generator_sha256'][:12]}...) painted with random scars into "
                f"{_HEARTS.get(made['sources'], made['sources'])} of the training cases, never into held-out ones "
                f"({made['steps']} sampling steps; `--synthetic`).\n")
    return (f"\n{which} also trained on the cases of other EMIDEC-layout folders ({listed}; `--extra-train`, "
            "synthetic cases for instance), for training only: none of them is ever held out.\n")


def _phantom_text(training, config):
    count = sum(1 for name in training["train_cases"] if name.startswith("Phantom_"))
    if not count:
        return ""
    return (f"\nAlso trained on {count} LGE phantoms that training makes for itself (`LGECore.phantom_training`: "
            "mostly scanner contrast, with nulled myocardium and bright blood and scar; other pixel sizes, fields of "
            f"view, slice orders and orientations), each phantom's slices drawn {config.get('phantom_weight', 1):g} "
            "times as often as a real case's.\n")


def _threads(config):
    return f"{config['threads']} thread(s) per process" if config.get("threads") else "all cores"


def _lineage_text(training):
    parent = training.get("fine_tuned_from")
    if not parent:
        return ""
    return (f"\nFine-tuned from `{parent['name']}` (anatomy sha256 {parent['sha256'][:12]}..., scar sha256 "
            f"{(parent.get('scar_sha256') or '')[:12]}...) with `--init-weights {parent['name']}`.\n")


def _time_text(entry):
    """Training time per network; a weak model's classifier counts, an anatomy taken as it is does not."""
    seconds = dict(entry["training"]["seconds"])
    weak = entry.get("weak_supervision")
    if weak:
        seconds["classifier"] = weak["classifier"].get("seconds", 0.0)
        if weak["anatomy"].get("name"):
            seconds.pop(ANATOMY, None)
    parts = ", ".join(f"{role} {_minutes(value)}" for role, value in seconds.items())
    taken = ""
    if weak and ANATOMY not in seconds:
        taken = f"; the anatomy network was taken from `{weak['anatomy']['name']}`"
    return f"{_minutes(sum(seconds.values()))} ({parts}{taken})"


def _trainer_option(entry):
    weak = entry.get("weak_supervision")
    return f" --trainer weak-{weak['level']}" if weak else ""


def cascade_card_text(entry):
    training, config = entry["training"], entry["training"]["config"]
    held_out = training.get("held_out_cases", [])
    split = (f"all but one fold ({len(held_out)} cases held out)" if held_out else "all cases")
    return f"""# {entry['name']}

Segments LV blood pool, myocardium, scar and MVO in LGE short-axis slices in two steps: an anatomy
network finds the LV (blood pool and myocardium) on whole slices and then on an LV-centred window;
a scar network then splits that myocardium into healthy, scar and MVO, at full resolution, from the
image normalised to the myocardium's own median and robust SD (so that "bright" means what it
means in n-SD, whatever the scanner), the neighbouring slices and the anatomy probabilities.

{weak_supervision_text(entry)}## Data and licence

Trained on {len(_real(training))} cases ({split}) of the EMIDEC training set (Lalande et al.,
Data 2020), re-exported as 8-bit slices with the pixel spacing lost ({config['lost_spacing_mm']} mm
assumed). Licence: CC BY-NC-SA 4.0, as the data. These weights are for research only, not for
clinical use.
{_phantom_text(training, config)}{_extra_text(training)}

## Training

{_stage_text(ANATOMY, config['anatomy'])}
{_stage_text(SCAR, config['scar'])}

Trained in {_time_text(entry)}
on {training['processes']} process(es) ({training['device']}, {_threads(config)}), seed {config['seed']}. Rebuild
from nothing with

    {rebuild_command(entry)}

(`--preset gpu` for a GPU; `--resume` continues from the checkpoints in MODEL_DIR.) The
cross-validation table and the calibration below are added to the registry entry and this card by

    python benchmarks/cv.py RUNS_DIR --train{_trainer_option(entry)} --preset {config['preset']} --fit-cases 8 --json cv.json --save PREDICTIONS_DIR --card MODEL_DIR/{entry['name']}.json
    python benchmarks/scar_calibration.py cv.json PREDICTIONS_DIR --entry MODEL_DIR/{entry['name']}.json
{_lineage_text(training)}
## Cross-validation

{_cv_text(entry.get("cross_validation"))}
## From probabilities to labels

{_calibration_text(entry)}
## Limitations

2D per slice with one neighbour on each side; trained on one centre's images with their spacing
lost; no RV. The scar network trusts the anatomy network's myocardium: scar outside it is not found.
"""
