"""ScarSynth: realistic synthetic scars in chosen AHA segments, and LGE images that show them.

Thin Slicer layer: the panel fills a parameter node, the logic converts nodes with
LGECore.scene and calls ScarSynthLib. torch, MONAI and diffusers are imported only by the
Lib, when a generation runs, after panel.ensure_dependencies has offered to install them.
"""

import logging
from typing import Annotated, Optional

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
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

from LGECore import panel, scene
from LGECore.device import DEVICE_CHOICES
from LGECore.territories import TERRITORIES  # the panel's "custom" keeps the user's own choice

# Python packages generation (and so its self-test) imports beyond Slicer's own.
TEST_REQUIREMENTS = ("torch", "monai", "diffusers")

SEGMENT_NUMBERS = range(1, 18)


def parseSegments(text):
    """AHA segment numbers from a comma-separated string ("1,2,7" -> (1, 2, 7))."""
    return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))


def formatSegments(numbers):
    return ",".join(str(n) for n in sorted(set(numbers)))


#
# ScarSynth
#


class ScarSynth(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Scar Synth")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Cardiac")]
        # This module imports AHABullseyeLib (and LGECore beneath it).
        self.parent.dependencies = ["AHABullseye"]
        self.parent.contributors = ["ScarSynth developers"]
        self.parent.helpText = _("""
Generates an anatomically plausible scar mask in the chosen AHA segments or coronary territory
(transmurality, optional MVO) inside a given myocardium, and synthesises an LGE image showing that
scar with a conditional diffusion model. Preview the mask first; generation takes longer.
See the <a href="https://github.com/scarsynth/SlicerScarSynth#scarsynth">documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Part of the ScarSynth extension. Models trained on the EMIDEC data set (Lalande et al., 2020;
CC BY-NC-SA 4.0).
""")


#
# ScarSynthParameterNode
#


@parameterNodeWrapper
class ScarSynthParameterNode:
    """The panel's state, saved with the scene."""

    inputVolume: vtkMRMLScalarVolumeNode
    inputSegmentation: vtkMRMLSegmentationNode
    territory: Annotated[str, Choice(["LAD", "RCA", "LCX", "custom"])] = "LAD"
    segments: str = formatSegments(TERRITORIES["LAD"])  # follows the 17 checkboxes
    transmurality: Annotated[float, WithinRange(0.0, 100.0)] = 50.0
    extent: Annotated[float, WithinRange(5.0, 100.0)] = 100.0
    pattern: Annotated[str, Choice(["ischaemic", "midwall", "epicardial", "patchy"])] = "ischaemic"
    mvo: bool = False
    seed: Annotated[int, WithinRange(0, 2**31 - 1)] = 0
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    outputSegmentation: vtkMRMLSegmentationNode
    outputVolume: vtkMRMLScalarVolumeNode


#
# ScarSynthWidget
#


class ScarSynthWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._updatingCheckBoxes = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ScarSynth.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = ScarSynthLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        # The 17 segment checkboxes are kept in the "segments" parameter by hand (a list of
        # checkboxes has no automatic connection); the territory combo box ticks its segments.
        for number in SEGMENT_NUMBERS:
            self._segmentCheckBox(number).connect("toggled(bool)", self.onSegmentToggled)
        self.ui.territoryComboBox.connect("currentIndexChanged(int)", self.onTerritoryChanged)
        self.ui.previewMaskButton.connect("clicked(bool)", self.onPreviewMaskButton)
        self.ui.generateButton.connect("clicked(bool)", self.onGenerateButton)

        self.initializeParameterNode()

    def _segmentCheckBox(self, number):
        return getattr(self.ui, f"segment{number}CheckBox")

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        # Pick the first volume and segmentation to save the user a few clicks.
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode
        if not self._parameterNode.inputSegmentation:
            firstSegmentation = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
            if firstSegmentation:
                self._parameterNode.inputSegmentation = firstSegmentation

    def setParameterNode(self, inputParameterNode: Optional[ScarSynthParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Widgets with a SlicerParameterName property in the .ui file follow the parameter node.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self._showSegments()
        self._checkCanApply()

    def _showSegments(self) -> None:
        """Tick the checkboxes of the segments stored in the parameter node."""
        if not self._parameterNode:
            return
        chosen = parseSegments(self._parameterNode.segments)
        self._updatingCheckBoxes = True
        try:
            for number in SEGMENT_NUMBERS:
                self._segmentCheckBox(number).checked = number in chosen
        finally:
            self._updatingCheckBoxes = False

    def onSegmentToggled(self, checked) -> None:
        if self._updatingCheckBoxes or not self._parameterNode:
            return
        chosen = [n for n in SEGMENT_NUMBERS if self._segmentCheckBox(n).checked]
        with slicer.util.NodeModify(self._parameterNode.parameterNode):
            self._parameterNode.segments = formatSegments(chosen)
            territory = TERRITORIES.get(self._parameterNode.territory)
            if territory is not None and tuple(chosen) != territory:
                self._parameterNode.territory = "custom"

    def onTerritoryChanged(self, index) -> None:
        if not self._parameterNode:
            return
        # Read the combo box: its parameter connection may not have stored the new value yet.
        territory = TERRITORIES.get(self.ui.territoryComboBox.currentText)
        if territory is not None:
            self._parameterNode.segments = formatSegments(territory)

    def _checkCanApply(self) -> None:
        parameters = self._parameterNode
        ready = bool(parameters and parameters.inputVolume and parameters.inputSegmentation)
        hasSegments = bool(parameters and parseSegments(parameters.segments))
        for button in (self.ui.previewMaskButton, self.ui.generateButton):
            button.enabled = ready and hasSegments
        if not ready:
            self.ui.generateButton.toolTip = _("Select an LGE volume and its myocardium segmentation.")
        elif not hasSegments:
            self.ui.generateButton.toolTip = _("Tick at least one AHA segment or pick a territory.")
        else:
            self.ui.generateButton.toolTip = _("Draw the scar mask and synthesise the LGE image.")

    def _run(self, method, needTorch, failure) -> None:
        with slicer.util.tryWithErrorDisplay(failure, waitCursor=True):
            panel.ensure_dependencies(self.resourcePath("requirements.txt"), needTorch)
            self.ui.previewMaskButton.enabled = self.ui.generateButton.enabled = False
            try:
                summary = panel.run_from_panel(
                    lambda progress: method(self._parameterNode, progress=progress),
                    self.ui.progressBar, self.ui.cancelButton, self.ui.statusLabel, _("Cancelled."))
            finally:
                self._checkCanApply()
            self.ui.statusLabel.text = summary

    def onPreviewMaskButton(self) -> None:
        self._run(self.logic.previewMask, needTorch=False, failure=_("Scar mask generation failed."))

    def onGenerateButton(self) -> None:
        self._run(self.logic.generate, needTorch=True, failure=_("Scar synthesis failed."))


#
# ScarSynthLogic
#


class ScarSynthLogic(ScriptedLoadableModuleLogic):
    """Generates scars on scene nodes; usable without the panel (e.g. from the Python console)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return ScarSynthParameterNode(super().getParameterNode())

    @staticmethod
    def readInputs(parameters):
        """The LGE Volume and the label Volume of its segmentation, on the LGE grid."""
        image = scene.volume_from_node(parameters.inputVolume)
        labels = scene.segmentation_node_to_labels(parameters.inputSegmentation, image, ignore_unknown=True)
        return image, labels

    @staticmethod
    def _scarRequest(parameters):
        """Keyword arguments of ScarSynthLib.scene for the panel's scar choice."""
        segments = parseSegments(parameters.segments)
        if not segments:
            raise ValueError(_("Tick at least one AHA segment or pick a territory."))
        if parameters.transmurality <= 0:
            raise ValueError(_("Choose a transmurality above 0 %."))
        return dict(segments=segments, transmurality=parameters.transmurality / 100.0,
                    extent=parameters.extent / 100.0, pattern=parameters.pattern,
                    mvo=parameters.mvo, seed=parameters.seed)

    def previewMask(self, parameters, progress=None) -> str:
        """Draw the scar mask only, into the output segmentation; return a one-line summary."""
        from ScarSynthLib import scene as synthScene

        request = self._scarRequest(parameters)
        logging.info(f"ScarSynth mask preview: {request}")
        node, params = synthScene.preview_scar(
            slicer.mrmlScene, parameters.inputVolume, parameters.inputSegmentation,
            output_segmentation=parameters.outputSegmentation, progress=progress, **request)
        parameters.outputSegmentation = node
        return synthScene._summary(params)

    def generate(self, parameters, progress=None) -> str:
        """Draw the scar mask and synthesise the LGE image; return a one-line summary."""
        from ScarSynthLib import scene as synthScene

        request = self._scarRequest(parameters)
        device = None if parameters.device == "auto" else parameters.device
        logging.info(f"ScarSynth generation: {request}, device {parameters.device}")
        volume, segmentation, params = synthScene.generate_scar_image(
            slicer.mrmlScene, parameters.inputVolume, parameters.inputSegmentation,
            output_segmentation=parameters.outputSegmentation, output_volume=parameters.outputVolume,
            device=device, progress=progress, **request)
        parameters.outputSegmentation = segmentation
        parameters.outputVolume = volume
        slicer.util.setSliceViewerLayers(background=volume, fit=True)
        return synthScene._summary(params)


#
# ScarSynthTest
#


class ScarSynthTest(ScriptedLoadableModuleTest):
    """Self-test run by Slicer's test harness and the Reload and Test button."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_TerritoriesAndParameters()
        self.test_PreviewMaskOnPhantom()  # numpy and scipy only
        missing = panel.missing_modules(TEST_REQUIREMENTS)
        if missing:
            self.delayDisplay(f"ScarSynth generation self-test skipped: {', '.join(missing)} not installed.")
            return
        self.test_GenerateOnPhantom()

    def test_TerritoriesAndParameters(self):
        """Territories cover the 17 segments once; the parameter node keeps the chosen segments."""
        self.delayDisplay("Starting the test")
        covered = sorted(n for numbers in TERRITORIES.values() for n in numbers)
        self.assertEqual(covered, list(SEGMENT_NUMBERS))

        parameters = ScarSynthLogic().getParameterNode()
        parameters.segments = formatSegments([17, 3, 3, 9])
        self.assertEqual(parseSegments(parameters.segments), (3, 9, 17))
        self.delayDisplay("Test passed")

    def _phantomParameters(self):
        from LGECore.phantom import make_phantom

        phantom = make_phantom(seed=0, n_slices=8)
        volumeNode = scene.volume_to_node(phantom.image, slicer.mrmlScene, "Phantom LGE")
        heartNode = scene.labels_to_segmentation_node(phantom.labels, slicer.mrmlScene, volumeNode, "Heart")
        parameters = ScarSynthLogic().getParameterNode()
        parameters.inputVolume = volumeNode
        parameters.inputSegmentation = heartNode
        parameters.segments = formatSegments(TERRITORIES["LAD"])
        parameters.transmurality = 80.0
        parameters.mvo = True
        return phantom, parameters

    def test_GenerateOnPhantom(self):
        """Generation gives a new volume on the input grid and the scar segmentation."""
        from LGECore.errors import WeightsError

        try:
            from ScarSynthLib.diffusion import load_generator

            load_generator()
        except (ImportError, WeightsError) as error:
            self.delayDisplay(f"ScarSynth generation self-test skipped: {error}")
            return
        self.delayDisplay("Scar synthesis on the phantom")
        phantom, parameters = self._phantomParameters()
        ScarSynthLogic().generate(parameters)
        synthetic = scene.volume_from_node(parameters.outputVolume)
        self.assertTrue(phantom.image.same_grid(synthetic))
        self.assertTrue(parameters.outputSegmentation is not None)
        self.delayDisplay("Test passed")

    def test_PreviewMaskOnPhantom(self):
        """A previewed LAD scar lies in the phantom's LAD segments, inside its myocardium."""
        import numpy as np

        from LGECore import labels as L

        self.delayDisplay("Scar mask preview on the phantom")
        phantom, parameters = self._phantomParameters()
        logic = ScarSynthLogic()
        summary = logic.previewMask(parameters)
        self.assertIn("Scar of", summary)
        drawn = scene.segmentation_node_to_labels(parameters.outputSegmentation, phantom.image).array
        scar = L.scar(drawn)
        self.assertTrue(scar.any() and (drawn == L.MVO).any())
        self.assertTrue(np.all(L.lv_myocardium(phantom.labels.array)[scar]))
        inLad = np.isin(phantom.aha_segments.array[scar], TERRITORIES["LAD"])
        self.assertGreater(inLad.mean(), 0.9)  # the AHA split finds the RV in the phantom's labels
        self.delayDisplay("Test passed")
