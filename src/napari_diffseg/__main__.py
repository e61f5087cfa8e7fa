"""``python -m napari_diffseg``: the ``napari-diffseg`` command line."""

import sys

from .cli import main

sys.exit(main())
