"""The npe2 manifest validates, and importing the plugin's modules stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

npe2 = pytest.importorskip("npe2")


def test_manifest_validates_with_imports():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-diffseg", "--imports"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_manifest_contributions():
    manifest = npe2.PluginManifest.from_distribution("napari-diffseg")
    contributions = manifest.contributions
    first_widget = contributions.widgets[0]
    assert first_widget.command == "napari-diffseg.segmentation_widget"
    segment_menu = [item.command for item in contributions.menus["napari/layers/segment"]]
    assert segment_menu == [first_widget.command]
    assert {sample.key for sample in contributions.sample_data} == {"tissue", "nuclei_stack"}


def test_widget_module_does_not_import_torch():
    code = (
        "import sys, napari_diffseg._widget, napari_diffseg._sample_data; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
