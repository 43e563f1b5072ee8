"""Files a training run writes are written whole or not at all."""

import os
from pathlib import Path


def save_atomic(write, path):
    """`write(temporary path)`, then the file takes its final name in one step."""
    temporary = Path(f"{path}.partial")
    write(temporary)
    os.replace(temporary, path)
