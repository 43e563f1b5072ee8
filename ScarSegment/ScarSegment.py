"""ScarSegment: LV blood pool, myocardium, scar and MVO on an LGE volume, with scar volume and burden.

Thin Slicer layer: the panel fills a parameter node, the logic converts nodes with
AHABullseyeLib.scene and calls ScarSegmentLib. torch and MONAI are imported only by the Lib, when
a segmentation runs, after ScarSynthCommon.ensure_dependencies has offered to install them.
"""

import logging
from typing import Annotated, Optional

import vtk

import slicer
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

import ScarSynthCommon
from AHABullseyeLib import scene

# Python packages segmentation (and so its self-test) imports beyond Slicer's own.
TEST_REQUIREMENTS = ("torch", "monai")


#
# ScarSegment
#


class ScarSegment(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Scar Segment")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Cardiac")]
        # AHABullseye's folder holds AHABullseyeLib and ScarSynthCommon, which this module imports.
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
    method: Annotated[str, Choice(["dl", "nsd", "fwhm"])] = "dl"
    sdCount: Annotated[float, WithinRange(1.0, 10.0)] = 5.0
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
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
        if not parameters or not parameters.inputVolume:
            self.ui.applyButton.toolTip = _("Select an LGE volume.")
            self.ui.applyButton.enabled = False
        elif thresholds and not parameters.inputSegmentation:
            self.ui.applyButton.toolTip = _("The threshold methods need a myocardium segmentation.")
            self.ui.applyButton.enabled = False
        else:
            self.ui.applyButton.toolTip = _("Segment the volume.")
            self.ui.applyButton.enabled = True

    def onApplyButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Segmentation failed."), waitCursor=True):
            needTorch = self._parameterNode.method == "dl"
            ScarSynthCommon.ensure_dependencies(self.resourcePath("requirements.txt"), needTorch)
            self.ui.applyButton.enabled = False
            try:
                with ScarSynthCommon.PanelProgress(
                        self.ui.progressBar, self.ui.cancelButton, self.ui.statusLabel) as progress:
                    summary = self.logic.process(self._parameterNode, progress=progress)
            except ScarSynthCommon.Cancelled:
                summary = _("Cancelled.")
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

    def process(self, parameters, progress=None) -> str:
        """Segment the chosen volume, fill the chosen outputs and return a one-line summary."""
        image = scene.volume_from_node(parameters.inputVolume)
        myocardium = None
        if parameters.inputSegmentation:
            myocardium = scene.segmentation_node_to_labels(parameters.inputSegmentation, image)
        logging.info(f"ScarSegment: {parameters.method} on a {image.shape} volume")

        # FEATURE POINT (ScarSegmentLib): segment `image` with parameters.method ("dl" with
        # parameters.device; "nsd" with parameters.sdCount or "fwhm" inside `myocardium`),
        # reporting to `progress`; then put the label Volume into parameters.outputSegmentation
        # or a new node (scene.labels_to_segmentation_node(labels, slicer.mrmlScene,
        # parameters.inputVolume, node=...)), the scar volume / mass / burden rows into
        # parameters.outputTable (scene.rows_to_table_node), and return a summary line.
        ScarSynthCommon.not_available(f"Segmentation with method '{parameters.method}'", "ScarSegmentLib")


#
# ScarSegmentTest
#


class ScarSegmentTest(ScriptedLoadableModuleTest):
    """Self-test run by Slicer's test harness and the Reload and Test button."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        missing = ScarSynthCommon.missing_modules(TEST_REQUIREMENTS)
        if missing:
            self.delayDisplay(f"ScarSegment self-test skipped: {', '.join(missing)} not installed.")
            return
        self.test_VolumeThroughTheScene()

    def test_VolumeThroughTheScene(self):
        """A synthetic LGE volume goes into a volume node and comes back unchanged."""
        import numpy as np

        from AHABullseyeLib.volume import Volume

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
