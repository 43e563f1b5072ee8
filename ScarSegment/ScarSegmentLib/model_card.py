"""The model card (NAME.md) written next to trained weights, from their registry entry."""

from .network import NetworkSettings
from .train_config import TrainConfig


def _score(value):
    return "n/a" if value is None or value != value else f"{value:.3f}"


def _lineage_text(parent):
    """'fine-tuned from A (sha256 ..., trained for N min), itself fine-tuned from B (...)'."""
    parts = []
    while parent:
        minutes = f", {parent['epochs']} epochs in {parent['seconds'] / 60.0:.1f} min" if parent.get("seconds") else ""
        parts.append(f"`{parent['name']}` (sha256 `{parent['sha256'][:12]}...`{minutes})")
        parent = parent.get("fine_tuned_from")
    return "fine-tuned from " + ", itself fine-tuned from ".join(parts)


def _device_text(device):
    """' on the CPU' / ' on a GPU', or nothing for a run that did not record its device."""
    return {"cpu": " on the CPU", "cuda": " on a GPU"}.get(device, "")


def _context_text(settings):
    context = settings.get("context_slices", 0)
    if not context:
        return ""
    return (f"\nInput: each slice with {context} neighbouring slice(s) on each side as extra channels (2.5D; "
            "zeros beyond the ends of the stack), taken "
            f"{settings.get('neighbour_spacing_mm', NetworkSettings.neighbour_spacing_mm):g} mm apart as in training "
            "(several slices apart on a thinner stack).")


def _through_plane_text(settings):
    context = settings.get("context_slices", 0)
    if not context:
        return "2D per slice (no through-plane context)"
    return (f"2D per slice with {context} neighbour(s) each side (slice thicknesses and partial volume "
            "differ between protocols)")


def _anchors_text(settings):
    if settings.get("window_normalisation"):
        return (f" of the network's {settings['patch_size']}x{settings['patch_size']} window around the LV, over all "
                "slices (not of the whole image, whose share of air and body depends on the field of view)")
    return " of the whole image"


def _field_of_view_text(config, settings):
    """Which share of the training patches was normalised in which way."""
    text = ""
    whole_image = 1.0
    if settings.get("window_normalisation"):
        whole_image = 1.0 - config.get("window_patches", TrainConfig.window_patches)
        text += (f" {1.0 - whole_image:.0%} of the patches normalised on their own window, as inference does around "
                 "the LV; the others on the whole image, as the coarse search for the LV sees it.")
        tight = (1.0 - whole_image) * config.get("tight_fov", 0)
        if tight:
            text += (f" {tight:.0%} of the patches show only a random smaller field of view holding the heart (40-100 % "
                     "of each side, blank beyond it), as a tight scan does.")
    fraction = whole_image * config.get("fov_normalisation", 0)
    if fraction:
        text += (f" {fraction:.0%} of the patches normalised by the percentiles of a smaller field of view (40-100 % "
                 "of each side, holding the whole heart), as a tight scan without air would be.")
    return text


def _log_text(log_files):
    """Where the per-epoch log is: the run's own, or the shipped stages' logs beside the card."""
    if not log_files:
        return "The per-epoch losses and validation Dice are in MODEL_DIR/training_log.csv"
    if len(log_files) == 1:
        return f"The per-epoch losses and validation Dice are in `{log_files[0]}`, beside this card"
    return (f"The per-epoch losses and validation Dice of every stage are in `{log_files[0]}` to "
            f"`{log_files[-1]}`, beside this card")


def _benchmark_text(report):
    """A section with the whole pipeline's figures from a `benchmarks/segment.py` JSON report."""
    if not report:
        return ""

    def row(title, summary):
        return (f"| {title} | {_score(summary['dice_myocardium'])} | {_score(summary['dice_scar'])} | "
                f"{_score(summary['dice_mvo'])} | {_score(summary.get('dice_scar_all_cases'))} | "
                f"{_score(summary.get('dice_mvo_all_cases'))} | {summary['scar_burden_abs_error']:.2f} |")

    rows = [row("held-out cases as stored", report["summary"])]
    if report.get("other_scanner_summary"):
        rows.append(row("the same cases resampled to other grids, orientations and intensity ranges",
                        report["other_scanner_summary"]))
    speed = ""
    side_by_side = [case for case in report.get("per_case", []) if "nnunet_seconds" in case]
    if side_by_side:  # like for like: both networks on the same cases
        mean = lambda key: sum(case[key] for case in side_by_side) / len(side_by_side)  # noqa: E731
        speed = (f"\nTime and peak memory per case on {report.get('threads', 1)} CPU thread(s), side by side on "
                 f"{len(side_by_side)} of these cases: {mean('ours_seconds'):.1f} s and {mean('ours_peak_mb'):.0f} MB, "
                 f"against {mean('nnunet_seconds'):.1f} s and {mean('nnunet_peak_mb'):.0f} MB for an nnU-Net-sized 2D "
                 "network (nnU-Net v2's PlainConvUNet as planned for 256 x 256 slices, 4-flip mirroring) on the "
                 "same input.\n")
    return f"""
## Measured on the whole pipeline (`benchmarks/segment.py`)

From the image on its own grid to labels on that grid ({len(report['cases'])} held-out cases): Dice over the
cases whose expert labels hold the structure, and for scar and MVO also over all cases counting 1 where
both are empty (as EMIDEC averages); scar-burden error in percentage points.

| | myocardium | scar | MVO | scar, all cases | MVO, all cases | burden error |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}
{speed}"""


def _extra_cases(training, config):
    """(the step that makes the phantoms, the retrain flag, the data paragraph) for a run that also
    trained on synthetic phantoms; empty strings otherwise."""
    extra = training.get("extra_train_cases", 0)
    if not extra:
        return "", "", ""
    return (f"    python scripts/make_phantom_training_set.py PHANTOM_DIR --cases {extra}\n",
            " --extra-train PHANTOM_DIR",
            f"\nAlso trained on {extra} synthetic LGE phantoms of the project (LGECore.phantom; "
            "mostly with scanner contrast, various pixel sizes, fields of view and orientations), "
            f"sampled at {config.get('extra_weight', 1.0)} x the weight of a real slice.\n")


def _lineage(training, settings):
    """(the lineage paragraph, the retrain flags) of a fine-tuned stage; empty for a first stage."""
    parent = training.get("fine_tuned_from")
    if not parent:
        return "", ""
    text = (f"\nThat time is the fine-tuning alone: {_lineage_text(parent)}.\n"
            "PARENT_MODEL below is the stage before; the first stage ran without `--init-weights`. "
            "Between stages the training code's recipe changed too, not only its flags (the project "
            "README tells how), so the command rebuilds this stage from its parent, not the chain.\n")
    flags = " --init-weights PARENT_MODEL"
    parent_channels = parent.get("channels")
    if parent_channels and list(parent_channels) != list(settings["channels"]):
        text += (f"The parent had {parent_channels} features per level: its weights were kept, and the new "
                 "features were added with no effect on its predictions at the start.\n")
        flags += " --channels " + " ".join(str(c) for c in settings["channels"])
    return text, flags


def _recipe_flags(config, settings):
    """The train-seg flags that differ from the preset's defaults."""
    flags = f" --split-file {config['split_file']}" if config.get("split_file") else ""
    flags += f" --epochs {config['epochs']} --learning-rate {config['learning_rate']}"
    if tuple(config.get("class_weights", TrainConfig.class_weights)) != TrainConfig.class_weights:
        flags += " --class-weights " + " ".join(f"{w:g}" for w in config["class_weights"])
    if config.get("seed"):
        flags += f" --seed {config['seed']}"
    if settings.get("context_slices", 0):
        flags += f" --context-slices {settings['context_slices']}"
    if not settings.get("window_normalisation"):
        flags += " --intensity-anchors image"
    return flags


def _header(entry, settings):
    return f"""# {entry['name']}

2D segmentation of LGE short-axis slices into background (0), LV blood pool (1), healthy
myocardium (2), scar (3) and MVO (4): {entry['architecture']}, channels {settings['channels']},
strides {settings['strides']}, {settings['num_res_units']} residual unit(s) per level, on a
{settings['pixel_spacing_mm']} mm in-plane grid, {settings['patch_size']}x{settings['patch_size']} patches,
intensities normalised by the {settings['percentiles'][0]}/{settings['percentiles'][1]} percentiles{_anchors_text(settings)}.{_context_text(settings)}
Used by `ScarSegmentLib.inference.segment_dl` (resampling, LV localisation, cropping, mapping back).
"""


def _data_section(training, config, extra_data):
    return f"""
## Data and licence

Trained on the EMIDEC challenge training set (Lalande et al., Data 2020; Medical Image Analysis
2022): real LGE stacks with expert labels, here an 8-bit PNG re-export whose pixel spacing was
lost; a pixel was assumed to be {config['lost_spacing_mm']} mm. {training['train_cases']} cases for training,
{len(training['validation_cases'])} held out by case (stratified over normal, infarct and MVO cases):
{', '.join(training['validation_cases'])}.
{extra_data}
Licence: CC BY-NC-SA 4.0 (attribution, non-commercial, share-alike), inherited from the data.
These weights are for research only, not for clinical use.
"""


def _training_section(training, config, settings, lineage, commands, log_files):
    minutes = training["seconds"] / 60.0
    return f"""
## Training

Loss: Dice + class-weighted cross-entropy {tuple(config['class_weights'])} + {config['kl_weight']} x KL
divergence to Gaussian-smoothed (sigma {config['kl_sigma']} px) soft labels. Slices with scar / MVO
oversampled. Augmentation (MONAI): any rotation, flips, scaling 0.75-1.25, shear, elastic warps,
gamma, histogram shift, bias field, intensity scale/shift, simulated low resolution, blur, noise.{_field_of_view_text(config, settings)}
{config['epochs']} epochs x {config['iterations_per_epoch']} iterations x batch {config['batch_size']},
AdamW, learning rate {config['learning_rate']} (warm-up, cosine decay). Training time:
{minutes:.1f} min{_device_text(training.get('device') or config['device'])}.
{lineage}
Retrain with (a GPU is used when there is one; `--resume` continues from MODEL_DIR/checkpoint.pt):

{commands}
{_log_text(log_files)}
({training.get('processes', 1)} process(es) trained this model).
"""


def _validation_section(scores, benchmark):
    return f"""
## Validation (held-out cases, patches centred on the true LV, last epoch)

| structure | mean Dice | cases |
| --- | --- | --- |
| LV myocardium | {_score(scores.get('dice_myocardium'))} | {scores.get('cases_with_myocardium', 'n/a')} |
| scar (incl. MVO) | {_score(scores.get('dice_scar'))} | {scores.get('cases_with_scar', 'n/a')} |
| MVO | {_score(scores.get('dice_mvo'))} | {scores.get('cases_with_mvo', 'n/a')} |
| LV blood pool | {_score(scores.get('dice_blood_pool'))} | {scores.get('cases_with_blood_pool', 'n/a')} |

Mean absolute scar-burden error: {_score(scores.get('scar_burden_abs_error'))} percentage points.
{_benchmark_text(benchmark)}"""


def _limitations_and_files(entry, settings):
    return f"""
## Limitations

{_through_plane_text(settings)}; one training set from one centre, seen through a lossy
8-bit export with an assumed pixel size; generalisation to other scanners rests on resampling to
{settings['pixel_spacing_mm']} mm, percentile normalisation and augmentation, and should be checked
on local data. MVO and small scars are the least reliable structures.

## Files

- `{entry['file']}` sha256 `{entry['sha256']}` (checked on load)
- `{entry['name']}.json` registry entry with the architecture settings and training configuration
"""


def model_card_text(entry, log_files=(), benchmark=None):
    """Markdown model card: data and licence, how to retrain, measured validation scores, sha256.

    `log_files`: names of training logs shipped beside the card (one per stage of a chain); without
    them the card points to the run's own training_log.csv. `benchmark`: the JSON report of
    `benchmarks/segment.py` on these weights, whose whole-pipeline figures the card then gives.
    """
    training, settings = entry["training"], entry["settings"]
    config = training["config"]
    phantom_step, extra_flag, extra_data = _extra_cases(training, config)
    lineage, lineage_flags = _lineage(training, settings)
    flags = extra_flag + lineage_flags + _recipe_flags(config, settings)
    commands = (f"{phantom_step}    scarsynth train-seg DATASET_DIR -o MODEL_DIR --preset {config.get('preset', 'cpu')}{flags}\n"
                "    torchrun --nproc_per_node 4 -m ScarSynthLib.cli train-seg DATASET_DIR -o MODEL_DIR --preset gpu\n")
    return (_header(entry, settings) + _data_section(training, config, extra_data)
            + _training_section(training, config, settings, lineage, commands, log_files)
            + _validation_section(entry.get("validation", {}), benchmark) + _limitations_and_files(entry, settings))
