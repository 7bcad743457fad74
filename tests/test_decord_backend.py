"""Importing decord through sama_mm keeps OpenCV's PNG codec working (decord bundles a clashing zlib)."""
import subprocess
import sys

from tests.conftest import HANG_TIMEOUT


def test_png_io_survives_decord():
    code = ('import numpy as np\n'
            'from sama_mm.datasets.decord_backend import decord\n'
            'import cv2\n'
            'cv2.imwrite("{p}", np.full((4, 4), 255, np.uint8))\n'
            'assert cv2.imread("{p}", cv2.IMREAD_UNCHANGED) is not None\n')
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, '-c', code.format(p=f'{tmp}/m.png')], capture_output=True, text=True,
                              timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
