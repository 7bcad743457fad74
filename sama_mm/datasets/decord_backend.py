"""decord, loaded after OpenCV (the optional decord video backend; the default is PyAV, see video_backends.py).

decord's wheel bundles its own zlib. When decord is imported before cv2, OpenCV's PNG codec binds to that
zlib and every ``cv2.imread``/``cv2.imwrite`` of a PNG fails ("libpng error: bad parameters to zlib"), which
breaks mask I/O silently (``imread`` returns None). Importing cv2 first avoids the clash, so every decord
import in sama_mm goes through this module.
"""
import cv2  # noqa: F401  (must be loaded before decord, see above)
import decord

__all__ = ['decord']
