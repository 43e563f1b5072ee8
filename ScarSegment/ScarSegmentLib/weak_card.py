"""The model card's words on a weakly supervised cascade (`scarsynth train-weak`), from the
`weak_supervision` of its registry entry; nothing for a train-seg cascade."""

from .cascade_config import extra_train_networks


def _anatomy_text(anatomy):
    if anatomy.get("name"):
        return (f"The anatomy network was taken as it is from `{anatomy['name']}` (sha256 "
                f"{anatomy['sha256'][:12]}...).")
    return ("The anatomy network was trained here on the contours' blood pool and myocardium, scar counted "
            "as myocardium: weak supervision lacks scar labels only.")


def _numbers_text(weak):
    level = weak["level"]
    text = (f"{weak['labelled_cases']} labelled cases, {weak[f'{level}s_with_scar']} {level}s with scar and "
            f"{weak[f'{level}s_without_scar']} without.")
    auroc = weak["classifier"].get("held_out_auroc")
    if auroc is not None:
        text += f" The classifier's held-out AUROC per {level}: {auroc:.3f}."
    dice = weak["pseudo_labels"].get("pseudo_label_dice")
    if dice is not None:
        text += (f" The pseudo-labels' Dice against the contours' own scar (a check only; they never reach "
                 f"training): {dice:.3f}.")
    return text


def weak_supervision_text(entry):
    """The card's section on weak supervision, or "" for a fully supervised cascade."""
    weak = entry.get("weak_supervision")
    if not weak:
        return ""
    level = weak["level"]
    source = f"read from {weak['labels']}" if weak.get("labels_sha256") else weak["labels"]
    stacks = ", and a stack's logit pools its slices' logits the same way" if level == "stack" else ""
    sentences = [
        f"Its scar network never saw a scar contour: it learnt from whether scar is present per {level}; "
        f"the yes/no labels were {source}.",
        "A scar classifier, built as the scar network is and given the same inputs, pooled its per-pixel scar "
        f"log-odds over the myocardium by log-mean-exp (sharpness {weak['classifier']['pooling_sharpness']:g})"
        f"{stacks}; it was trained with binary cross-entropy on the yes/no labels.",
        f"Pseudo-labels came from its scar maps: {weak['pseudo_labels']['rule']}.",
        "The scar network, started from the classifier, was trained on them as train-seg trains it. Yes/no "
        "labels say nothing of MVO: this model calls MVO scar.",
        _anatomy_text(weak["anatomy"]), _numbers_text(weak)]
    return "## Weak supervision\n\n" + " ".join(sentences) + "\n\n"


def _extra_options(entry):
    """train-seg's options for the extra training sets: --extra-train, or --synthetic for the set it made."""
    config = entry["training"]["config"]
    made = config.get("synthetic_set") or {}
    folders = [folder for folder in config.get("extra_train_dirs", ()) if not (made and folder == "synthetic")]
    extra = "".join(f" --extra-train {folder}" for folder in folders)
    networks = extra_train_networks(config)
    only = networks[0] if len(networks) == 1 else "both"
    if made:
        generator = "" if made.get("generator", "shipped") == "shipped" else f" --generator {made['generator']}"
        return (f"{extra} --synthetic {made['cases']} --synthetic-from {made['sources']} --synthetic-for {only}"
                f"{generator}")
    return extra + (f" --extra-train-for {only}" if extra and only != "both" else "")


def _augmentation_options(entry):
    """train-seg's --blur and --edge-cuts, where the run asked for them (older entries never did)."""
    config = entry["training"]["config"]
    blur, edge_cuts = config["anatomy"].get("blur", 0.0), config["anatomy"].get("edge_cuts", 0.0)
    return (f" --blur {blur:g}" if blur else "") + (f" --edge-cuts {edge_cuts:g}" if edge_cuts else "")


def rebuild_command(entry):
    """The command that trains this model again."""
    preset = entry["training"]["config"]["preset"]
    weak = entry.get("weak_supervision")
    if not weak:
        return f"scarsynth train-seg DATASET_DIR -o MODEL_DIR --preset {preset}{_augmentation_options(entry)}" \
            f"{_extra_options(entry)}"
    labels = f" --labels {weak['labels']}" if weak.get("labels_sha256") else ""
    command = f"scarsynth train-weak DATASET_DIR -o MODEL_DIR --level {weak['level']}{labels} --preset {preset}"
    if not weak["anatomy"].get("name"):
        return command
    # The anatomy network came from a train-seg cascade: rebuilding starts with that one.
    return (f"scarsynth train-seg DATASET_DIR -o ANATOMY_DIR --preset {preset} && "
            f"{command} --anatomy-weights ANATOMY_DIR")
