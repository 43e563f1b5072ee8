"""The background-process runner the ScarSegment panel uses: progress, Cancel, errors."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from LGECore.background import CommandFailed, lib_environment, python_executable, run_with_progress
from LGECore.io import write_volume
from LGECore.volume import Volume
from ScarSegmentLib.scene import segment_command


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(1)
    z, y, x = np.mgrid[0:4, 0:40, 0:40]
    radius = np.hypot(y - 20, x - 20)
    labels = np.where(radius < 8, 1, np.where(radius < 13, 2, 0)).astype(np.uint8)
    image = rng.normal(60, 5, labels.shape) + 200 * (labels == 1) + 180 * ((labels == 2) & (x < 18))
    spacing = (1.5, 1.5, 8.0)
    write_volume(Volume(image.astype(np.float32), spacing), folder / "image.nrrd")
    write_volume(Volume(labels, spacing), folder / "myocardium.nrrd")
    return folder


def test_progress_reaches_the_end(inputs, tmp_path):
    seen = []
    command = segment_command(inputs / "image.nrrd", tmp_path / "out", method="nsd", n_sd=3,
                              myocardium_path=inputs / "myocardium.nrrd")
    run_with_progress(command, lambda fraction, message: seen.append((fraction, message)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("threshold" in m for _, m in seen)
    assert (tmp_path / "out" / "labels.nii.gz").exists()


def test_cancel_stops_the_process_and_leaves_no_output(inputs, tmp_path):
    class Cancelled(Exception):
        pass

    def cancel_at_once(fraction, message):
        raise Cancelled()

    command = segment_command(inputs / "image.nrrd", tmp_path / "out", method="nsd",
                              myocardium_path=inputs / "myocardium.nrrd")
    with pytest.raises(Cancelled):
        run_with_progress(command, cancel_at_once)
    assert not (tmp_path / "out").exists()


def test_a_failing_command_raises_its_own_message(inputs, tmp_path):
    command = segment_command(inputs / "image.nrrd", tmp_path / "out", method="dl",
                              weights=tmp_path / "absent.safetensors")
    with pytest.raises(CommandFailed, match="Weights file not found"):
        run_with_progress(command)
    assert not (tmp_path / "out").exists()


def test_non_ascii_messages_arrive_whatever_the_callers_locale():
    """A host that set the C (ASCII) locale still gets the command's UTF-8 progress and errors."""
    import locale

    script = ("import sys; sys.stderr.write('progress: 50% Schnitt f\u00fcr Schnitt\\n'); "
              "sys.stderr.write('error: 10 \u00b0 zu weit \u2026\\n'); sys.exit(2)")
    seen = []
    saved = locale.setlocale(locale.LC_ALL)
    locale.setlocale(locale.LC_ALL, "C")
    try:
        with pytest.raises(CommandFailed, match="10 \u00b0 zu weit \u2026"):
            run_with_progress([sys.executable, "-c", script], lambda fraction, message: seen.append(message))
    finally:
        locale.setlocale(locale.LC_ALL, saved)
    assert any("Schnitt f\u00fcr Schnitt" in message for message in seen)


def test_environment_finds_the_libs():
    import LGECore
    import ScarSegmentLib

    folders = lib_environment((ScarSegmentLib,))["PYTHONPATH"].split(os.pathsep)
    assert str(Path(LGECore.__file__).resolve().parents[1]) in folders
    assert str(Path(ScarSegmentLib.__file__).resolve().parents[1]) in folders


@pytest.mark.skipif(sys.platform == "win32", reason="a shell-script stand-in for PythonSlicer")
def test_the_command_runs_in_this_python_unless_this_is_the_slicer_application(tmp_path, monkeypatch):
    """A PythonSlicer on the PATH is for the Slicer application only: elsewhere this interpreter
    (with this environment's packages) runs the command."""
    fake = tmp_path / "PythonSlicer"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert python_executable() == sys.executable
    monkeypatch.setattr(sys, "executable", str(tmp_path / "SlicerApp-real"))
    assert python_executable() == str(fake)
