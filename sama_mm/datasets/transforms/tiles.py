"""InternVL dynamic tiles: an image as 1-12 square tiles on an aspect-ratio grid, plus a thumbnail.

The released SAMA training and its RefCOCO/GCG evaluation feed every still image (RefCOCO/+/g, GCG, LLaVA,
Osprey) to the ViT this way: among the grids of ``cols x rows`` tiles with ``min_tiles <= cols * rows <=
max_tiles``, the one whose aspect ratio is nearest the image's is chosen (a tie goes to the larger grid when the
image has more than half the grid's pixels); the image is resized to ``cols * S`` by ``rows * S`` (PIL bicubic),
cut into tiles row by row, and, when there is more than one tile, the whole image resized to ``S x S`` is appended
as a thumbnail. Each tile gives 256 vision tokens, all in one ``<img> ... </img>`` block, and the tiles are the
frames of the one-frame video: every tile is dense (its tokens reach the LLM) and sparse (it gets a context token
from the aggregator), so a sample with N tiles has ``N * 256`` vision and N context tokens per round.

:class:`DynamicTiles` goes after the steps that read the image as one frame (``LoadImageMasks``,
``SAM2ImageTransform``: the masks and SAM2 stay on the whole image) and replaces ``pixel_values`` by the tiles.
"""
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from .image import check_resize_backend, resize_normalize


def tile_grid(width: int, height: int, image_size: int = 448, min_tiles: int = 1,
              max_tiles: int = 12) -> Tuple[int, int]:
    """``(cols, rows)`` of the InternVL grid for a ``width x height`` image.

    The candidate grids are taken in the order of their tile count (the same order as the released code, which
    sorts a Python set of ``(cols, rows)`` pairs by ``cols * rows``; ties keep the set's iteration order).
    """
    if not 1 <= min_tiles <= max_tiles:
        raise ValueError(f'need 1 <= min_tiles <= max_tiles, got {min_tiles}, {max_tiles}')
    if width <= 0 or height <= 0:
        raise ValueError(f'image size must be positive, got {width}x{height}')
    grids = {(c, r) for n in range(min_tiles, max_tiles + 1) for c in range(1, n + 1) for r in range(1, n + 1)
             if min_tiles <= c * r <= max_tiles}
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float('inf')
    for cols, rows in sorted(grids, key=lambda g: g[0] * g[1]):
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * image_size * image_size * cols * rows:
            best = (cols, rows)
    return best


def _resize(img: np.ndarray, width: int, height: int, backend: str) -> np.ndarray:
    """``uint8 [H, W, 3]`` -> ``uint8 [height, width, 3]``, bicubic (PIL's, or torch's antialiased one)."""
    if img.shape[:2] == (height, width):
        return img
    if backend == 'pil':
        from PIL import Image
        return np.asarray(Image.fromarray(np.ascontiguousarray(img), mode='RGB').resize((width, height),
                                                                                         Image.BICUBIC))
    x = torch.from_numpy(np.array(img, np.uint8)).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(height, width), mode='bicubic', align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255)[0].permute(1, 2, 0).to(torch.uint8).numpy()


def tile_image(img: np.ndarray, image_size: int = 448, min_tiles: int = 1, max_tiles: int = 12,
               thumbnail: bool = True, resize_backend: str = 'pil') -> np.ndarray:
    """The tiles of one ``uint8 [H, W, 3]`` RGB image: ``uint8 [N, S, S, 3]`` (row by row, thumbnail last)."""
    if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
        raise ValueError(f'expected one uint8 RGB image [H, W, 3], got {img.dtype} {img.shape}')
    height, width = img.shape[:2]
    cols, rows = tile_grid(width, height, image_size, min_tiles, max_tiles)
    grid = _resize(img, cols * image_size, rows * image_size, resize_backend)
    tiles: List[np.ndarray] = [grid[r * image_size:(r + 1) * image_size, c * image_size:(c + 1) * image_size]
                               for r in range(rows) for c in range(cols)]
    if thumbnail and len(tiles) > 1:
        tiles.append(_resize(img, image_size, image_size, resize_backend))
    return np.stack(tiles)


@TRANSFORMS.register_module()
class DynamicTiles(BaseTransform):
    """The ViT input of a one-frame image sample as InternVL dynamic tiles (module docstring).

    Required Keys:

        - imgs (np.ndarray): ``uint8 [1, H, W, 3]`` RGB (an image read by ``ImageInit``).
        - frame_indices, dense_positions (list[int]): One frame each (from ``SampleFrames``).

    Modified Keys:

        - pixel_values (torch.Tensor): ``float32 [N, 3, S, S]``, the N tiles normalised as the ViT input.
        - frame_indices (list[int]): The image's frame index once per tile (N sparse "frames": N context tokens).
        - dense_positions (list[int]): ``[0, ..., N-1]`` (every tile's tokens reach the LLM).

    Added Keys:

        - num_tiles (int): N. ``ChatTokenize`` then writes one ``<img>`` block of ``N * 256`` tokens.

    Args:
        image_size (int): Tile side. Defaults to 448.
        min_tiles (int): Fewest grid tiles. Defaults to 1.
        max_tiles (int): Most grid tiles (the thumbnail comes on top). Defaults to 12, as the released training.
        thumbnail (bool): Append the whole image as a last tile when the grid has more than one. Defaults to True.
        resize_backend (str): ``'pil'`` (default: PIL bicubic, bit-identical to the released code) or ``'torch'``
            (antialiased bicubic, within about one grey level of PIL on natural images).
    """

    def __init__(self, image_size: int = 448, min_tiles: int = 1, max_tiles: int = 12, thumbnail: bool = True,
                 resize_backend: str = 'pil'):
        tile_grid(1, 1, image_size, min_tiles, max_tiles)  # validates the range
        self.image_size, self.min_tiles, self.max_tiles = int(image_size), int(min_tiles), int(max_tiles)
        self.thumbnail = bool(thumbnail)
        self.resize_backend = check_resize_backend(resize_backend)

    def transform(self, results: Dict) -> Dict:
        imgs = results['imgs']
        if len(imgs) != 1 or len(results['frame_indices']) != 1 or len(results['dense_positions']) != 1:
            raise ValueError(f'DynamicTiles takes a one-frame image sample, got {len(imgs)} frames '
                             f'(record {results.get("record_index", "?")} of {results.get("ann_file", "?")})')
        tiles = tile_image(np.asarray(imgs[0]), self.image_size, self.min_tiles, self.max_tiles, self.thumbnail,
                           self.resize_backend)
        n = len(tiles)
        results['pixel_values'] = resize_normalize(tiles, self.image_size, resize_backend='pil')  # no resize left
        results['frame_indices'] = [int(results['frame_indices'][0])] * n
        results['dense_positions'] = list(range(n))
        results['num_tiles'] = n
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(image_size={self.image_size}, min_tiles={self.min_tiles}, '
                f'max_tiles={self.max_tiles}, thumbnail={self.thumbnail}, resize_backend={self.resize_backend!r})')
