"""docs/screenshots.py runs: it writes every screenshot of docs/images, and none is blank."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = [pytest.mark.gui, pytest.mark.slow]

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCRIPT = DOCS / "screenshots.py"


@pytest.mark.skipif(not SCRIPT.is_file(), reason="needs the source tree's docs/screenshots.py")
def test_the_screenshot_script_writes_every_screenshot(tmp_path, qapp):
    from skimage.io import imread

    # qapp: pytest-xvfb's virtual display is up, and the script's subprocess inherits it.
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], env=env, check=True, timeout=1500)
    written = sorted(path.name for path in tmp_path.glob("*.png"))
    assert written == sorted(path.name for path in (DOCS / "images").glob("*.png"))
    for name in written:
        image = imread(tmp_path / name)[..., :3]
        assert image.shape[0] > 400 and image.shape[1] > 600, name
        colours = np.unique(image.reshape(-1, 3)[::7], axis=0)
        assert image.std() > 10 and len(colours) > 200, f"{name} looks blank"
        canvas = image[image.shape[0] // 4 : 3 * image.shape[0] // 4, image.shape[1] // 4 : image.shape[1] // 2]
        assert canvas.std() > 10, f"{name}: the canvas looks blank"
