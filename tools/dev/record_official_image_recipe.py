"""Record golden InternVL dynamic tiles from the official SAMA image code (fixtures of
tests/datasets/test_official_recipe_image.py).

Usage::

    git --git-dir=<mirror of github.com/sunye23/SAMA> archive 7c75e44 | tar -x -C /tmp/official_sama
    python tools/dev/record_official_image_recipe.py --official /tmp/official_sama \\
        --out tests/data/official_recipe_image

The script writes small fake images of several shapes (landscape, portrait, square, extreme strips, a size on
the area rule of the grid choice) into ``--out/images`` as PNG, runs the official ``dynamic_preprocess``
(``projects/llava_sam2/datasets/utils.py``, imported by file path: the package ``__init__`` files import the
models and are not run) with the released settings (1-12 tiles of 448, thumbnail) and the official per-tile
transform (torchvision ``Resize((448, 448), BICUBIC)``, ``ToTensor``, ``Normalize`` with the ImageNet
mean/std), and writes ``tiles.json``: per image, the tile count, the grid size of the resized image and, per
tile, the SHA-256 of the ``float32`` ViT input and its sum. Nothing of the official checkout is copied.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import os.path as osp

import numpy as np

#: name -> (width, height) of the fake images ('big_square': three grids fit exactly, the area rule picks 2x2).
SHAPES = {'tiny': (32, 24), 'square': (448, 448), 'landscape': (1000, 300), 'portrait': (300, 1000),
          'coco': (640, 480), 'strip': (1300, 50), 'tall': (60, 900), 'big_square': (900, 900),
          'wide': (1000, 800)}


def fake_image(width: int, height: int, seed: int) -> np.ndarray:
    """A gradient, a fine periodic pattern and a few rectangles: sharp edges exercise every filter tap, and the
    PNG stays small (no per-pixel noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)),
                    ((xx + yy) * 3) % 256], -1).astype(np.int32)
    img += ((xx * 7 + yy * 3) % 11 - 5)[..., None] * 4
    for _ in range(4):
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        img[y0:y0 + height // 5 + 1, x0:x0 + width // 5 + 1] = rng.integers(0, 256, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def digest(t) -> dict:
    arr = np.ascontiguousarray(t.numpy().astype(np.float32))
    return dict(sha256=hashlib.sha256(arr.tobytes()).hexdigest(), sum=float(arr.astype(np.float64).sum()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--official', required=True, help='export of sunye23/SAMA at 7c75e44')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()

    import torchvision.transforms as T
    from PIL import Image
    from torchvision.transforms.functional import InterpolationMode

    spec = importlib.util.spec_from_file_location(
        'official_llava_sam2_utils', osp.join(args.official, 'projects/llava_sam2/datasets/utils.py'))
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    transform = T.Compose([T.Resize((448, 448), interpolation=InterpolationMode.BICUBIC), T.ToTensor(),
                           T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])

    os.makedirs(osp.join(args.out, 'images'), exist_ok=True)
    records = {}
    for seed, (name, (width, height)) in enumerate(SHAPES.items()):
        path = osp.join(args.out, 'images', f'{name}.png')
        Image.fromarray(fake_image(width, height, seed)).save(path)
        image = Image.open(path).convert('RGB')
        tiles = utils.dynamic_preprocess(image, 1, 12, 448, True)
        ratio = utils.find_closest_aspect_ratio(width / height, sorted(
            {(i, j) for n in range(1, 13) for i in range(1, n + 1) for j in range(1, n + 1) if 1 <= i * j <= 12},
            key=lambda x: x[0] * x[1]), width, height, 448)
        records[name] = dict(width=width, height=height, grid=list(ratio), num_tiles=len(tiles),
                             tiles=[digest(transform(t)) for t in tiles])
        print(name, width, height, ratio, len(tiles))
    with open(osp.join(args.out, 'tiles.json'), 'w') as f:
        json.dump(dict(source='sunye23/SAMA@7c75e44 projects/llava_sam2/datasets/utils.py dynamic_preprocess',
                       settings=dict(min_num=1, max_num=12, image_size=448, use_thumbnail=True),
                       images=records), f, indent=1)


if __name__ == '__main__':
    main()
