"""AHABullseye: the AHA 17-segment model of the LV myocardium, scar per segment and the bullseye.

Thin Slicer layer: the panel fills a parameter node, the logic converts nodes with
AHABullseyeLib.scene and calls AHABullseyeLib for the analysis. Nothing heavy is imported here.
"""

import logging
import os
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import (
    vtkMRMLLabelMapVolumeNode,
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from AHABullseyeLib import scene as aha_scene
from AHABullseyeLib.orientation import APEX_CHOICES, DIRECTION_CHOICES
from LGECore import panel, scene

# Python packages the analysis (and so its self-test) imports beyond Slicer's own.
TEST_REQUIREMENTS = ("scipy", "matplotlib")


#
# AHABullseye
#


class AHABullseye(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AHA Bullseye")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Cardiac")]
        self.parent.dependencies = []
        self.parent.contributors = ["ScarSynth developers"]
        self.parent.helpText = _("""
Splits the LV myocardium of a short-axis segmentation into the AHA 17 segments (Cerqueira et al.,
Circulation 2002), quantifies scar per segment (extent, transmurality, MVO) and draws the bullseye.
Place the anterior, then the inferior RV insertion point in a point list for the most reliable
segment boundaries. See the <a href="https://github.com/scarsynth/SlicerScarSynth#ahabullseye">documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Part of the ScarSynth extension. Models trained on the EMIDEC data set (Lalande et al., 2020;
CC BY-NC-SA 4.0).
""")


#
# AHABullseyeParameterNode
#


@parameterNodeWrapper
class AHABullseyeParameterNode:
    """The panel's state, saved with the scene."""

    inputSegmentation: vtkMRMLSegmentationNode
    inputLabelMap: vtkMRMLLabelMapVolumeNode
    lgeVolume: vtkMRMLScalarVolumeNode
    insertionPoints: vtkMRMLMarkupsFiducialNode
    apexSide: Annotated[str, Choice(list(APEX_CHOICES))] = "auto"
    direction: Annotated[str, Choice(list(DIRECTION_CHOICES))] = "auto"
    outputSegmentation: vtkMRMLSegmentationNode
    outputTable: vtkMRMLTableNode


#
# AHABullseyeWidget
#


class AHABullseyeWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AHABullseye.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = AHABullseyeLogic()

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
        # Pick the first segmentation to save the user a few clicks.
        if not self._parameterNode.inputSegmentation and not self._parameterNode.inputLabelMap:
            firstSegmentation = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
            if firstSegmentation:
                self._parameterNode.inputSegmentation = firstSegmentation

    def setParameterNode(self, inputParameterNode: Optional[AHABullseyeParameterNode]) -> None:
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
        if parameters and (parameters.inputSegmentation or parameters.inputLabelMap):
            self.ui.applyButton.toolTip = _("Compute the AHA segments and the per-segment scar.")
            self.ui.applyButton.enabled = True
        else:
            self.ui.applyButton.toolTip = _("Select a segmentation or a label map.")
            self.ui.applyButton.enabled = False

    def onApplyButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("AHA analysis failed."), waitCursor=True):
            panel.ensure_dependencies(self.resourcePath("requirements.txt"), need_torch=False)
            bullseyePath = os.path.join(slicer.app.temporaryPath, "AHABullseye", "bullseye.png")
            # About a second of work: no Cancel button, the steps show on the progress bar.
            result = panel.run_from_panel(
                lambda progress: self.logic.process(self._parameterNode, progress=progress, bullseyePath=bullseyePath),
                self.ui.progressBar, None, self.ui.statusLabel)
            self.ui.statusLabel.text = result.summary
            if result.bullseyePng:
                pixmap = qt.QPixmap(result.bullseyePng)
                width = max(240, min(self.ui.bullseyeLabel.width, 480))
                self.ui.bullseyeLabel.setPixmap(pixmap.scaledToWidth(width, qt.Qt.SmoothTransformation))
                self.ui.bullseyeLabel.toolTip = result.bullseyePng


#
# AHABullseyeLogic
#


class AHABullseyeResult:
    """What one analysis put into the scene, for the panel to show."""

    def __init__(self, summary, bullseyePng=None):
        self.summary = summary
        self.bullseyePng = bullseyePng


class AHABullseyeLogic(ScriptedLoadableModuleLogic):
    """Runs the AHA analysis on scene nodes; usable without the panel (e.g. from the Python console)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return AHABullseyeParameterNode(super().getParameterNode())

    def process(self, parameters, progress=None, bullseyePath=None) -> AHABullseyeResult:
        """Analyse the chosen inputs and fill the chosen outputs (new nodes where none is chosen)."""
        logging.info("AHA analysis started")
        analysis = aha_scene.aha_analysis_on_nodes(
            slicer.mrmlScene,
            segmentation_node=parameters.inputSegmentation,
            labelmap_node=None if parameters.inputSegmentation else parameters.inputLabelMap,
            lge_node=parameters.lgeVolume,
            points_node=parameters.insertionPoints,
            apex=parameters.apexSide,
            direction=parameters.direction,
            output_segmentation=parameters.outputSegmentation,
            output_table=parameters.outputTable,
            bullseye_path=bullseyePath,
            progress=progress,
        )
        parameters.outputSegmentation = analysis.segmentation_node
        parameters.outputTable = analysis.table_node
        for warning in analysis.result.warnings:
            logging.warning(warning)
        return AHABullseyeResult(analysis.summary, str(analysis.bullseye_path))


#
# AHABullseyeTest
#


class AHABullseyeTest(ScriptedLoadableModuleTest):
    """Self-test run by Slicer's test harness and the Reload and Test button."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        missing = panel.missing_modules(TEST_REQUIREMENTS)
        if missing:
            self.delayDisplay(f"AHABullseye self-test skipped: {', '.join(missing)} not installed.")
            return
        self.test_LabelsThroughTheScene()
        self.test_AnalysisOfAPhantom()

    def test_LabelsThroughTheScene(self):
        """A synthetic label map goes into a segmentation node and comes back unchanged."""
        import numpy as np

        from LGECore.volume import Volume

        self.delayDisplay("Starting the test")
        z, y, x = np.indices((4, 32, 32))
        radius = np.hypot(y - 16, x - 16)
        labels = np.zeros((4, 32, 32), np.uint8)
        labels[radius < 6] = 1
        labels[(radius >= 6) & (radius < 10)] = 2
        labels[(radius >= 6) & (radius < 10) & (x > 20)] = 3
        volume = Volume(labels, spacing=(1.5, 1.5, 8.0), origin=(10.0, -20.0, 5.0))

        node = scene.labels_to_segmentation_node(volume, slicer.mrmlScene, name="test labels")
        back = scene.segmentation_node_to_labels(node, volume)
        self.assertTrue(np.array_equal(back.array, labels))
        self.assertEqual(node.GetSegmentation().GetNumberOfSegments(), 3)

        parameters = AHABullseyeLogic().getParameterNode()
        self.assertEqual(parameters.apexSide, "auto")
        self.delayDisplay("Test passed")

    def test_AnalysisOfAPhantom(self):
        """The logic on a phantom with an RV: 17 segments close to the true map, table, bullseye."""
        import numpy as np

        try:
            from LGECore.phantom import make_phantom
        except ImportError as error:
            self.delayDisplay(f"Phantom analysis skipped: {error}")
            return

        self.delayDisplay("Analysing a phantom")
        phantom = make_phantom(seed=3, territory="LAD", transmurality=0.6, matrix_size=128, pixel_spacing=1.6)
        labelsNode = scene.labels_to_segmentation_node(phantom.labels, slicer.mrmlScene, name="phantom labels")
        parameters = AHABullseyeLogic().getParameterNode()
        parameters.inputSegmentation = labelsNode
        result = AHABullseyeLogic().process(parameters)

        segments = aha_scene.segmentation_node_to_aha_segments(parameters.outputSegmentation, phantom.labels)
        myocardium = phantom.aha_segments.array > 0
        agreement = np.mean(segments.array[myocardium] == phantom.aha_segments.array[myocardium])
        self.assertGreaterEqual(agreement, 0.95)
        self.assertEqual(parameters.outputTable.GetTable().GetNumberOfRows(), 17 + 1 + 3)
        self.assertTrue(os.path.getsize(result.bullseyePng) > 0)
        self.delayDisplay("Test passed")
