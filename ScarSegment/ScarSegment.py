"""ScarSegment: LV blood pool, myocardium, scar and MVO on an LGE volume, with scar volume and burden.

Thin Slicer layer: the panel fills a parameter node, the logic converts nodes with
LGECore.scene and calls ScarSegmentLib. torch and MONAI are imported only by the Lib, when
a segmentation runs, after panel.ensure_dependencies has offered to install them.
"""

import logging
import pathlib
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from LGECore import panel, scene, scene_tables
from LGECore.device import DEVICE_CHOICES
from ScarSegmentLib.request import METHODS

# Python packages segmentation imports beyond Slicer's own: the network needs torch and MONAI,
# the threshold methods (and so the self-test, which uses them on a phantom) only these.
TEST_REQUIREMENTS = ("torch", "monai")
THRESHOLD_TEST_REQUIREMENTS = ("scipy", "SimpleITK")


#
# ScarSegment
#


class ScarSegment(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Scar Segment")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Cardiac")]
        # This module imports AHABullseyeLib (and LGECore beneath it).
        self.parent.dependencies = ["AHABullseye"]
        self.parent.contributors = ["ScarSynth developers"]
        self.parent.helpText = _("""
Segments the LV blood pool, myocardium, scar and microvascular obstruction (MVO) on a short-axis
LGE volume with a deep-learning model, or finds scar inside a given myocardium with the clinical
n-SD or FWHM thresholds, and reports scar volume, mass and burden.
See the <a href="https://github.com/scarsynth/SlicerScarSynth#scarsegment">documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Part of the ScarSynth extension. Models trained on the EMIDEC data set (Lalande et al., 2020;
CC BY-NC-SA 4.0).
""")


#
# ScarSegmentParameterNode
#


@parameterNodeWrapper
class ScarSegmentParameterNode:
    """The panel's state, saved with the scene."""

    inputVolume: vtkMRMLScalarVolumeNode
    inputSegmentation: vtkMRMLSegmentationNode
    remoteSegmentation: vtkMRMLSegmentationNode  # empty: found automatically
    method: Annotated[str, Choice(list(METHODS))] = "dl"
    sdCount: Annotated[float, WithinRange(1.0, 10.0)] = 5.0
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    weightsPath: pathlib.Path  # empty: the shipped model
    outputSegmentation: vtkMRMLSegmentationNode
    outputTable: vtkMRMLTableNode


#
# ScarSegmentWidget
#


class ScarSegmentWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ScarSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = ScarSegmentLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.loadStackButton.connect("clicked(bool)", self.onLoadStackButton)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        # Pick the first volume to save the user a few clicks.
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: Optional[ScarSegmentParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Widgets with a SlicerParameterName property in the .ui file follow the parameter node.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        parameters = self._parameterNode
        thresholds = parameters is not None and parameters.method in ("nsd", "fwhm")
        if parameters:
            self.ui.sdSpinBox.enabled = parameters.method == "nsd"
            self.ui.inputSegmentationSelector.enabled = thresholds
            self.ui.remoteSegmentationSelector.enabled = thresholds
        if not parameters or not parameters.inputVolume:
            self.ui.applyButton.toolTip = _("Select an LGE volume.")
            self.ui.applyButton.enabled = False
        elif thresholds and not parameters.inputSegmentation:
            self.ui.applyButton.toolTip = _("Threshold inside the deep network's myocardium "
                                            "(select a segmentation to use your own).")
            self.ui.applyButton.enabled = True
        else:
            self.ui.applyButton.toolTip = _("Segment the volume.")
            self.ui.applyButton.enabled = True

    def onLoadStackButton(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(
            slicer.util.mainWindow(), _("DICOM folder holding the LGE short-axis stack"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not load a stack from the folder."), waitCursor=True):
            node, choice = self.logic.loadStack(folder)
            self._parameterNode.inputVolume = node
            slicer.util.setSliceViewerLayers(background=node, fit=True)
            note = choice.note() if choice else None
            self.ui.statusLabel.text = note or _("Loaded {name}.").format(name=node.GetName())

    def onApplyButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Segmentation failed."), waitCursor=True):
            # The network runs for "dl", and for the thresholds when no myocardium is given.
            needTorch = self._parameterNode.method == "dl" or not self._parameterNode.inputSegmentation
            panel.ensure_dependencies(self.resourcePath("requirements.txt"), needTorch)
            self.ui.applyButton.enabled = False
            try:
                summary = panel.run_from_panel(
                    lambda progress: self.logic.process(self._parameterNode, progress=progress),
                    self.ui.progressBar, self.ui.cancelButton, self.ui.statusLabel, _("Cancelled."))
            finally:
                self._checkCanApply()
            self.ui.statusLabel.text = summary


#
# ScarSegmentLogic
#


class ScarSegmentLogic(ScriptedLoadableModuleLogic):
    """Runs segmentation on scene nodes; usable without the panel (e.g. from the Python console)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return ScarSegmentParameterNode(super().getParameterNode())

    def loadStack(self, path):
        """A new volume node holding the LGE stack of an image file or DICOM folder, and the
        dicom.FolderChoice naming the series read (None for a file)."""
        return scene.load_stack_node(path, slicer.mrmlScene)

    def process(self, parameters, progress=None) -> str:
        """Segment the chosen volume, fill the chosen outputs and return a one-line summary.

        The segmentation runs as a separate Python process (`python -m ScarSegmentLib.cli
        segment`), so Slicer stays responsive; `progress(fraction, message)` sees its progress
        lines and may raise (Cancel) to stop it. Nothing is added to the scene unless it succeeds.
        """
        from ScarSegmentLib import scene as segmentScene

        method = parameters.method
        thresholds = method in ("nsd", "fwhm")  # a myocardium or remote region left from them is ignored
        myocardiumNode = parameters.inputSegmentation if thresholds else None
        remoteNode = parameters.remoteSegmentation if thresholds else None
        logging.info(f"ScarSegment: {method} on '{parameters.inputVolume.GetName()}'")
        segmentation, table, result = segmentScene.segment_in_background(
            slicer.mrmlScene, parameters.inputVolume, method=method, n_sd=parameters.sdCount,
            myocardium_node=myocardiumNode, remote_node=remoteNode,
            device=None if parameters.device == "auto" else parameters.device,
            weights=segmentScene.chosen_weights(parameters.weightsPath),
            segmentation_node=parameters.outputSegmentation, table_node=parameters.outputTable,
            progress=progress)
        parameters.outputSegmentation = segmentation
        parameters.outputTable = table
        for warning in result.warnings:
            logging.warning(f"ScarSegment: {warning}")
        metrics = result.metrics
        return _("Scar {scar:.1f} mL ({burden:.1f} % of the LV myocardium), MVO {mvo:.1f} mL.").format(
            scar=metrics["scar_volume_ml"], burden=metrics["scar_burden_percent"], mvo=metrics["mvo_volume_ml"])


#
# ScarSegmentTest
#


class ScarSegmentTest(ScriptedLoadableModuleTest):
    """Self-test run by Slicer's test harness and the Reload and Test button."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        missing = panel.missing_modules(THRESHOLD_TEST_REQUIREMENTS)
        if missing:
            self.delayDisplay(f"ScarSegment self-test skipped: {', '.join(missing)} not installed.")
            return
        self.test_VolumeThroughTheScene()
        self.test_LoadStack()
        self.test_ThresholdInTheBackground()

    def test_VolumeThroughTheScene(self):
        """A synthetic LGE volume goes into a volume node and comes back unchanged."""
        import numpy as np

        from LGECore.volume import Volume

        self.delayDisplay("Starting the test")
        rng = np.random.default_rng(0)
        image = Volume(rng.normal(100, 20, (6, 40, 40)).astype(np.float32),
                       spacing=(1.25, 1.25, 10.0), origin=(-30.0, 12.0, 40.0))
        node = scene.volume_to_node(image, slicer.mrmlScene, "synthetic LGE")
        back = scene.volume_from_node(node)
        self.assertTrue(np.array_equal(back.array, image.array))
        self.assertTrue(back.same_grid(image))

        parameters = ScarSegmentLogic().getParameterNode()
        self.assertEqual(parameters.method, "dl")
        self.delayDisplay("Test passed")

    def test_LoadStack(self):
        """loadStack reads a stack file into a new volume node on the file's grid."""
        import tempfile

        import numpy as np

        from LGECore import io
        from LGECore.volume import Volume

        image = Volume(np.arange(4 * 30 * 30, dtype=np.float32).reshape(4, 30, 30),
                       spacing=(1.5, 1.5, 8.0), origin=(10.0, -5.0, 20.0))
        with tempfile.TemporaryDirectory() as folder:
            node, choice = ScarSegmentLogic().loadStack(io.write_volume(image, pathlib.Path(folder) / "stack.nrrd"))
        self.assertIsNone(choice)
        self.assertEqual(node.GetName(), "stack")
        self.assertTrue(scene.volume_from_node(node).same_grid(image))
        self.delayDisplay("Stack loaded")

    def test_ThresholdInTheBackground(self):
        """n-SD inside the phantom's myocardium, run as a background process, finds its scar."""
        import numpy as np

        from LGECore import labels
        from LGECore.phantom import make_phantom

        self.delayDisplay("Thresholding a phantom in a background process")
        phantom = make_phantom(seed=1, territory="RCA", transmurality=0.8, mvo=True,
                               look="scanner")
        volumeNode = scene.volume_to_node(phantom.image, slicer.mrmlScene, "phantom LGE")
        contours = scene.labels_to_segmentation_node(phantom.labels, slicer.mrmlScene, volumeNode,
                                                     name="phantom contours")
        parameters = ScarSegmentLogic().getParameterNode()
        parameters.inputVolume = volumeNode
        parameters.inputSegmentation = contours
        parameters.method = "nsd"
        parameters.sdCount = 5.0
        fractions = []
        summary = ScarSegmentLogic().process(parameters, progress=lambda f, m="": fractions.append(f))
        self.assertIn("Scar", summary)
        self.assertEqual(fractions[-1], 1.0)
        found = scene.segmentation_node_to_labels(parameters.outputSegmentation, phantom.image).array
        scar, truth = labels.scar(found), labels.scar(phantom.labels.array)
        dice = 2 * np.sum(scar & truth) / (scar.sum() + truth.sum())
        self.assertGreater(dice, 0.85)
        rows = scene_tables.table_node_to_rows(parameters.outputTable)
        self.assertTrue(any(row["Measurement"].startswith("Scar burden") for row in rows))
        self.delayDisplay(f"Test passed: scar Dice {dice:.2f}")
