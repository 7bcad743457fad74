#!/usr/bin/env python
"""Grounded video chat in the browser: upload a video, mark regions, ask, watch the masks.

    python tools/web_demo.py --config C --checkpoint CK [--host 127.0.0.1 --port 7860] [--max-upload-mb 200]

With the quickstart's tiny model and the demo videos (``bash tools/quickstart.sh`` first):

    python tools/web_demo.py --config configs/demo/sama_tiny_demo.py \\
        --checkpoint work_dirs/quickstart/train/iter_300.pth

then open http://127.0.0.1:7860. The page serves on the loopback interface unless ``--host`` says otherwise.
Each chat writes ``answers.json``, ``masks.json`` (RLE), ``overlay.mp4`` and ``overlay.webm`` to a folder under
``--work-dir`` (default: a new temporary folder); the page offers them for download.
Needs the ``web`` extra: ``pip install -e .[web]`` (``requirements/web.txt``).
"""
import argparse
import glob
import os.path as osp
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import cv2  # noqa: E402,F401  (before decord, see sama_mm/datasets/decord_backend.py)

DEMO_VIDEOS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data', 'demo', 'videos')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Web demo of grounded multi-turn video chat')
    parser.add_argument('--config', help='model config, e.g. configs/demo/sama_tiny_demo.py (default: the converted '
                        'folder given as --checkpoint, read through its data-only sama_mm_config.json)')
    parser.add_argument('--checkpoint', help='weights: converted folder, .safetensors or .pth (strictly loaded)')
    parser.add_argument('--host', default='127.0.0.1',
                        help='interface to serve on (default: loopback only; 0.0.0.0 exposes the demo to the network)')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--max-upload-mb', type=float, default=200.0, help='largest video accepted (MiB)')
    parser.add_argument('--work-dir', help='where chats write their outputs (default: a new temporary folder)')
    parser.add_argument('--examples', default=DEMO_VIDEOS,
                        help='folder of videos offered as examples (default: data/demo/videos, if built)')
    parser.add_argument('--fps', type=float, default=10.0, help='frame rate of the overlay videos')
    parser.add_argument('--max-new-tokens', type=int, help='generation limit (default: the config\'s)')
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0:
        parser.error('--max-upload-mb must be positive')
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        parser.error(f'--max-new-tokens must be a positive integer (the most tokens an answer may have), got '
                     f'{args.max_new_tokens}')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    from sama_mm.utils.cli import config_or_converted_folder
    args.config = config_or_converted_folder(args.config, args.checkpoint)
    for path, what in ((args.config, '--config'), (args.checkpoint, '--checkpoint')):
        if path is not None and not osp.exists(path):
            sys.exit(f'error: {what} {path} does not exist')
    try:
        from sama_mm.webui.app import build_app, launch
    except ImportError as exc:
        sys.exit(f'error: the web demo needs the "web" extra (pip install -e .[web]): {exc}')
    from sama_mm.apis import SAMAInferencer
    from sama_mm.webui import WebDemo

    overrides = {} if args.max_new_tokens is None else dict(max_new_tokens=args.max_new_tokens)
    print(f'[web_demo] loading {args.config} ({args.checkpoint or "random weights"})', flush=True)
    inferencer = SAMAInferencer(args.config, args.checkpoint, device=args.device, chat_cfg=overrides)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='sama_web_demo_')
    demo = WebDemo(inferencer, work_dir, max_upload_mb=args.max_upload_mb, fps=args.fps)
    examples = sorted(glob.glob(osp.join(args.examples, '*.mp4'))) if args.examples else []
    app = build_app(demo, examples=examples)
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'[web_demo] warning: --host {args.host} makes the demo (uploads, the model) reachable from other '
              'machines; it has no login', flush=True)
    print(f'[web_demo] serving on http://{args.host}:{args.port} (outputs in {work_dir})', flush=True)
    launch(app, work_dir, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
           allowed_paths=[args.examples] if examples else [])


if __name__ == '__main__':
    main()
