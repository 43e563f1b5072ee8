"""Choosing the compute device: one rule for inference, training and synthesis."""

from .errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # what the panels offer; the command line leaves "auto" out
COMMAND_LINE_DEVICES = DEVICE_CHOICES[1:]  # no --device means auto


def check_device_name(device):
    """`device` itself when it names a device this project runs on: None, '', 'auto', 'cpu',
    'cuda' or 'cuda:N'; InputError otherwise. Needs no torch, so options are checked on entry."""
    text = "" if device is None else str(device)
    if text in ("", "auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return device
    raise InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}.")


def wants_cuda(device):
    """Whether `device` asks for the GPU: 'cuda' or 'cuda:N', or auto with a GPU present."""
    import torch

    text = str(check_device_name(device) or "")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device '{text}' was asked for but no GPU is available.")
        return True
    return text != "cpu" and torch.cuda.is_available()


def choose_device(device=None):
    """The torch.device for `device`: None, '' or 'auto' take the GPU when there is one."""
    import torch

    if not wants_cuda(device):
        return torch.device("cpu")
    text = str(device or "")
    return torch.device(text if text.startswith("cuda") else "cuda")


def device_option(text):
    """argparse type of a --device option: the name checked on entry, before any work."""
    import argparse

    try:
        return check_device_name(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
