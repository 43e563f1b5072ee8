"""Training loss: Dice + cross-entropy, plus a KL term towards Gaussian-smoothed soft labels.

Semi-automatic expert contours are uncertain by a pixel or two at every border; the KL term asks
the network for soft, calibrated borders there instead of fitting each jagged edge.
"""


class RobustSegmentationLoss:
    """Dice + weighted CE (class imbalance) + kl_weight * KL(smoothed one-hot || softmax)."""

    def __init__(self, num_classes, class_weights=None, kl_weight=0.5, kl_sigma=1.0, device="cpu"):
        import torch
        from monai.losses import DiceCELoss
        from monai.networks.layers import GaussianFilter

        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32, device=device)
        # batch=True pools the Dice over the batch: rare classes (MVO) still get a stable signal.
        self.dice_ce = DiceCELoss(
            include_background=False, to_onehot_y=True, softmax=True, batch=True, weight=weight,
            lambda_dice=1.0, lambda_ce=1.0)
        self.smooth = GaussianFilter(spatial_dims=2, sigma=kl_sigma).to(device) if kl_sigma > 0 else None
        self.num_classes = num_classes
        self.kl_weight = kl_weight

    def soft_labels(self, labels):
        """Gaussian-smoothed one-hot labels (N, C, H, W) summing to 1 per pixel."""
        import torch.nn.functional as F

        onehot = F.one_hot(labels[:, 0].long(), self.num_classes).permute(0, 3, 1, 2).float()
        if self.smooth is None:
            return onehot
        soft = self.smooth(onehot).clamp_min(0)
        return soft / soft.sum(dim=1, keepdim=True).clamp_min(1e-6)

    def __call__(self, logits, labels):
        """Total loss and its parts (floats) for logging; labels are (N, 1, H, W) integers."""
        import torch.nn.functional as F

        dice_ce = self.dice_ce(logits, labels)
        soft = self.soft_labels(labels)
        kl = F.kl_div(F.log_softmax(logits, dim=1), soft, reduction="none").sum(dim=1).mean()
        total = dice_ce + self.kl_weight * kl
        return total, {"dice_ce": float(dice_ce.detach()), "kl": float(kl.detach())}
