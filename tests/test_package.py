import subprocess
import sys

import napari_diffseg


def test_version_is_exported():
    assert isinstance(napari_diffseg.__version__, str) and napari_diffseg.__version__.count(".") >= 1


def test_importing_the_package_and_the_cli_loads_neither_torch_nor_qt():
    code = (
        "import sys, napari_diffseg, napari_diffseg.cli, napari_diffseg.io;"
        "heavy = [m for m in ('torch', 'qtpy', 'PyQt5', 'PyQt6', 'napari') if m in sys.modules];"
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_public_names_resolve_lazily():
    assert callable(napari_diffseg.segment)
    assert napari_diffseg.Segmenter.__name__ == "Segmenter"
    assert set(napari_diffseg.PRESETS) >= {"fast", "paper"}
