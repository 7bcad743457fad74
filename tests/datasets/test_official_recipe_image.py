"""Image sources against the official SAMA code (fixtures recorded by tools/dev/record_official_image_recipe.py).

Dynamic tiles: our :class:`DynamicTiles` gives, on every fake image shape, the grid, the tile count and the
``float32`` ViT input of every tile bit for bit as the official ``dynamic_preprocess`` + per-tile transform.
"""
import hashlib
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from sama_mm.datasets.transforms import DynamicTiles
from sama_mm.datasets.transforms.tiles import tile_grid, tile_image

FIXTURES = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'official_recipe_image')


def _golden():
    with open(osp.join(FIXTURES, 'tiles.json')) as f:
        return json.load(f)['images']


def _read(name):
    return np.asarray(Image.open(osp.join(FIXTURES, 'images', f'{name}.png')).convert('RGB'))


@pytest.mark.parametrize('name', sorted(_golden()))
def test_tiles_equal_official(name):
    rec = _golden()[name]
    img = _read(name)
    assert tile_grid(rec['width'], rec['height']) == tuple(rec['grid'])
    results = DynamicTiles()(dict(imgs=img[None], frame_indices=[0], dense_positions=[0]))
    pv = results['pixel_values']
    assert results['num_tiles'] == rec['num_tiles'] == len(pv)
    assert results['dense_positions'] == list(range(len(pv)))
    assert results['frame_indices'] == [0] * len(pv)
    for k, (tile, want) in enumerate(zip(pv, rec['tiles'])):
        arr = np.ascontiguousarray(tile.numpy().astype(np.float32))
        assert hashlib.sha256(arr.tobytes()).hexdigest() == want['sha256'], f'{name} tile {k}'


def test_tile_counts_and_thumbnail():
    img = np.zeros((480, 640, 3), np.uint8)
    assert len(tile_image(img)) == 13  # 4x3 grid + thumbnail
    assert len(tile_image(img, thumbnail=False)) == 12
    assert len(tile_image(img, max_tiles=1)) == 1  # one tile: no thumbnail
    assert len(tile_image(img, max_tiles=6)) == 7  # 3x2 + thumbnail
    assert tile_grid(448, 448, max_tiles=12) == (1, 1)
    assert tile_grid(900, 900) == (2, 2)  # (1,1), (2,2), (3,3) fit exactly; the area rule stops at 2x2


def test_torch_backend_close_to_pil():
    img = _read('coco')
    pil = tile_image(img, resize_backend='pil').astype(int)
    fast = tile_image(img, resize_backend='torch').astype(int)
    assert pil.shape == fast.shape
    assert np.abs(pil - fast).mean() < 1.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match='one-frame image sample'):
        DynamicTiles()(dict(imgs=np.zeros((2, 8, 8, 3), np.uint8), frame_indices=[0, 1], dense_positions=[0, 1],
                            ann_file='x.json', record_index=3))
    with pytest.raises(ValueError, match='min_tiles'):
        DynamicTiles(min_tiles=3, max_tiles=2)
