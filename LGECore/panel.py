"""What the three module panels share: installing their Python packages on first use, and a
progress bar with a Cancel button as the callback of long work. Imports slicer only when a panel
uses it, so the rest of LGECore (and the tests) import this file without the Slicer application.
"""

from .dependencies import MissingDependencies, ensure_dependencies, missing_modules  # noqa: F401


class Cancelled(Exception):
    """The user pressed Cancel."""


class PanelProgress:
    """Context manager and callback: `progress(fraction, message)` updates the panel.

    Use `with PanelProgress(ui.progressBar, ui.cancelButton, ui.statusLabel) as progress:` and pass
    `progress` to the Lib function; each call keeps the GUI responsive and raises Cancelled once
    the user has pressed Cancel.
    """

    def __init__(self, progress_bar, cancel_button=None, status_label=None):
        self.progress_bar = progress_bar
        self.cancel_button = cancel_button
        self.status_label = status_label
        self.cancelled = False

    def _cancel(self):
        self.cancelled = True

    def __enter__(self):
        self.cancelled = False
        self.progress_bar.value = 0
        self.progress_bar.visible = True
        if self.cancel_button is not None:
            self.cancel_button.enabled = True
            self.cancel_button.connect("clicked(bool)", self._cancel)
        return self

    def __exit__(self, *exc_info):
        self.progress_bar.visible = False
        if self.cancel_button is not None:
            self.cancel_button.disconnect("clicked(bool)", self._cancel)
            self.cancel_button.enabled = False
        return False

    def __call__(self, fraction, message=""):
        self.progress_bar.value = int(round(100 * min(max(fraction, 0.0), 1.0)))
        if message and self.status_label is not None:
            self.status_label.text = message
        import slicer

        slicer.app.processEvents()  # let the Cancel click arrive
        if self.cancelled:
            raise Cancelled("Cancelled by the user.")


def run_from_panel(work, progress_bar, cancel_button=None, status_label=None, cancelled="Cancelled."):
    """What every panel's Apply does with long work: `work(progress)` with the panel's progress bar,
    Cancel button and status line as its progress; returns work's result, or `cancelled` (the
    panel's words for it) when the user pressed Cancel. The work itself may run in the background
    through LGECore.background.run_in_background, calling `progress` all the while."""
    try:
        with PanelProgress(progress_bar, cancel_button, status_label) as progress:
            return work(progress)
    except Cancelled:
        return cancelled
