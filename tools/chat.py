#!/usr/bin/env python
"""Chat with a SAMA model about a video; every ``[SEG]`` of an answer becomes a mask track over the whole video.

    python tools/chat.py VIDEO --config C --checkpoint CK                       # interactive (stdin)
    python tools/chat.py VIDEO --config C --checkpoint CK --questions q.txt --out DIR [--gif] [--force]

``VIDEO`` is a video file or a folder of frames. The turns form one conversation (earlier questions and answers
stay in context). With ``--out`` the tool writes:

* ``answers.json``: the video's frame choice and, per turn, the question, the answer, its objects and timing;
* ``masks.json``: per object (turn, index, label) the pycocotools RLE of its mask on every frame;
* ``overlay.mp4`` (and ``overlay.gif`` with ``--gif``): the masks coloured per object and labelled.

``--region frame:x1,y1,x2,y2`` gives the region prompts of the questions' ``<mask>`` placeholders, in order; they
need a model with the context-aggregator neck.

Bad input (a missing or unreadable video, config, checkpoint or questions file, a config key the model does not
take, a ``<mask>`` count that differs from the ``--region`` count, a region outside the video) ends the program
with one ``error: ...`` line naming the file, key or region and exit status 1, checked as early as possible (files
before the model is built, ``<mask>`` counts and regions before the first question).

``--out`` is left untouched until the first turn is finished. Then ``answers.json`` and ``masks.json`` are
rewritten after every finished turn (each file replaced in one step, never half-written), the overlay at the end;
when a later question is refused or fails, the earlier turns are saved (overlay included) and the error names the
question. A non-empty ``--out`` folder is refused unless ``--force``, which, when the first turn is finished,
removes the files this tool writes (``answers.json``, ``masks.json``, ``overlay.mp4``, ``overlay.gif``) from it,
so no file of an earlier run (e.g. the gif of another video) is left beside the new ones; other files in the
folder stay.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import cv2  # noqa: E402,F401  (before decord, see sama_mm/datasets/decord_backend.py)


def parse_region(text: str) -> Tuple[int, Tuple[float, float, float, float]]:
    """``'frame:x1,y1,x2,y2'`` → ``(frame, (x1, y1, x2, y2))``."""
    try:
        frame, box = text.split(':', 1)
        coords = tuple(float(v) for v in box.split(','))
        if len(coords) != 4:
            raise ValueError
        if coords[2] <= coords[0] or coords[3] <= coords[1]:
            raise argparse.ArgumentTypeError(f'region {text!r}: x2 > x1 and y2 > y1 are required')
        return int(frame), coords
    except ValueError:
        raise argparse.ArgumentTypeError(f'region {text!r} is not frame:x1,y1,x2,y2') from None


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer (the most tokens an answer may have), '
                                         f'got {value}')
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Grounded multi-turn chat about a video')
    parser.add_argument('video', help='video file or frame folder')
    parser.add_argument('--config', help='model config (default: the converted folder given as --checkpoint)')
    parser.add_argument('--checkpoint', help='weights: converted folder, .safetensors or .pth (strictly loaded)')
    parser.add_argument('--questions', help='text file, one question per line (scripted mode); default: stdin')
    parser.add_argument('--out', help='output folder for answers.json, masks.json and the overlay video')
    parser.add_argument('--region', nargs='+', type=parse_region, default=[], metavar='FRAME:X1,Y1,X2,Y2',
                        help='region prompts for the <mask> placeholders of the questions, in order')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--gif', action='store_true', help='also write overlay.gif')
    parser.add_argument('--fps', type=float, default=10.0, help='frame rate of the overlay video')
    parser.add_argument('--max-new-tokens', type=positive_int, help='generation limit (default: the config\'s)')
    parser.add_argument('--force', action='store_true',
                        help='write into a non-empty --out folder (its answers.json, masks.json, overlay.mp4 and '
                             'overlay.gif are removed first; other files stay)')
    parser.add_argument('--quiet', action='store_true', help='no progress bars')
    return parser.parse_args(argv)


def _questions(path: Optional[str]):
    """Questions from a file (non-empty lines) or, interactively, from stdin until EOF / 'exit'."""
    if path is not None:
        with open(path, encoding='utf-8') as f:
            yield from (line.strip() for line in f if line.strip())
        return
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print('> ', end='', flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        line = line.strip()
        if line in ('exit', 'quit'):
            return
        if line:
            yield line


class _Bar:
    """An mmengine ProgressBar created on first use (none for text-only turns)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.bar = total, enabled, None

    def __call__(self, n: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from mmengine.utils import ProgressBar
            self.bar = ProgressBar(self.total)
        for _ in range(n):
            self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            sys.stdout.write('\n')
            self.bar = None


def _regions_for(question: str, regions: List, used: int) -> Tuple[list, int]:
    n = question.count('<mask>')
    return regions[used:used + n], used + n


def _check_inputs(args) -> None:
    """Everything that can be checked before the model is built; exits with a one-line error."""
    if args.out and osp.exists(args.out) and not osp.isdir(args.out):
        sys.exit(f'error: --out {args.out} is a file, not a folder')
    if args.out and osp.isdir(args.out) and os.listdir(args.out) and not args.force:
        sys.exit(f'error: --out {args.out} is not empty; pass --force to overwrite its files')
    if not osp.exists(args.video):
        sys.exit(f'error: {args.video}: video file or frame folder not found')
    from sama_mm.utils.cli import config_or_converted_folder
    args.config = config_or_converted_folder(args.config, args.checkpoint)
    if not osp.exists(args.config):
        sys.exit(f'error: {args.config}: config file not found')
    if args.checkpoint is not None and not osp.exists(args.checkpoint):
        sys.exit(f'error: {args.checkpoint}: checkpoint not found')
    if args.questions is not None:
        if not osp.isfile(args.questions):
            sys.exit(f'error: {args.questions}: questions file not found')
        if not any(True for _ in _questions(args.questions)):
            sys.exit(f'error: {args.questions}: no question in the file (one question per non-empty line)')


def _check_region_count(args) -> None:
    """Scripted mode: one ``--region`` per ``<mask>`` of all questions, known before the video is read."""
    if args.questions is None:
        return
    needed = sum(q.count('<mask>') for q in _questions(args.questions))
    if needed != len(args.region):
        sys.exit(f'error: the questions of {args.questions} have {needed} <mask> but {len(args.region)} '
                 '--region prompt(s) were given (one per <mask>, in order)')


def _check_regions_fit(regions, session) -> None:
    """Every ``--region`` on a frame of the video and inside it, checked before the first question is asked."""
    from sama_mm.apis.chat_inputs import region_prompt_mask
    for i, (frame, box) in enumerate(regions):
        text = f'{frame}:{",".join(f"{v:g}" for v in box)}'
        if not 0 <= frame < session.num_frames:
            sys.exit(f'error: --region {text}: frame {frame} is outside the video of {session.num_frames} frames '
                     f'(0..{session.num_frames - 1})')
        try:
            region_prompt_mask(box, session.ori_shape)
        except ValueError as exc:
            sys.exit(f'error: --region {text}: {exc}')


def main(argv=None) -> List:
    """Run the chat; returns the :class:`~sama_mm.apis.TurnResult` of every turn.

    User errors (missing or unreadable files, a config with an unknown key, a checkpoint that does not fit the
    model, a bad region) end the program with a one-line ``error: ...`` on stderr and exit status 1 before
    ``--out`` is touched. A question that is refused or fails ends it the same way, naming the question; the turns
    finished before it are saved in ``--out`` first (the message says so).
    """
    args = parse_args(argv)
    _check_inputs(args)
    from sama_mm.apis import ChatSession, SAMAInferencer
    from sama_mm.utils.weights import StateDictMismatchError

    overrides = {} if args.max_new_tokens is None else dict(max_new_tokens=args.max_new_tokens)
    try:
        inferencer = SAMAInferencer(args.config, args.checkpoint, device=args.device, chat_cfg=overrides)
    except (ValueError, FileNotFoundError, StateDictMismatchError) as exc:  # ConfigError is a ValueError
        sys.exit(f'error: {exc}')
    if args.region and inferencer.model.neck is None:
        sys.exit('error: --region needs a model with the context-aggregator neck (region prompts are read by the '
                 'aggregator); this model has neck=None')
    _check_region_count(args)
    bar = _Bar(0, not args.quiet)
    try:
        session = ChatSession(inferencer, args.video, progress=bar)
    except ValueError as exc:  # DataError / VideoReadError: the file and what is wrong with it
        sys.exit(f'error: {exc}')
    _check_regions_fit(args.region, session)
    bar.total = session.num_frames
    print(f'[chat] {args.video}: {session.num_frames} frames {session.ori_shape[1]}x{session.ori_shape[0]}, '
          f'LLM frames {session.frame_indices} (dense {session.dense_frame_indices})', flush=True)

    out = _Output(args, session) if args.out else None
    results, used = [], 0
    try:
        for question in _questions(args.questions):
            regions, used = _regions_for(question, args.region, used)
            try:
                result = session.ask(question, regions=regions or None)
            except (ValueError, NotImplementedError) as exc:  # the question or a region refused; nothing changed
                bar.close()
                _fail(out, results, f'question {len(results) + 1}: {exc}')
            except Exception as exc:  # noqa: BLE001 - a model error: save the finished turns, then report it
                bar.close()
                _fail(out, results, f'question {len(results) + 1} failed ({type(exc).__name__}: {exc})')
            bar.close()
            results.append(result)
            print(f'[turn {result.index + 1}] Q: {question}\n[turn {result.index + 1}] A: {result.answer}  '
                  f'({result.num_objects} mask track(s), {result.seconds:.1f} s)', flush=True)
            if out is not None:
                try:
                    out.turn_done(results)
                except OSError as exc:
                    sys.exit(f'error: writing turn {len(results)} to {args.out} failed: {exc}')
    except KeyboardInterrupt:
        bar.close()
        print(f'\n[chat] interrupted after {len(results)} turn(s)', flush=True)
    if used < len(args.region):
        print(f'[chat] warning: {len(args.region) - used} --region prompt(s) had no <mask> to fill', flush=True)
    if out is not None:
        try:
            out.finish(results)
        except OSError as exc:
            sys.exit(f'error: writing the overlay to {args.out} failed ({exc}); the {len(results)} turn(s) are saved '
                     'there (answers.json, masks.json)')
    return results


class _Output:
    """The ``--out`` folder: when the first turn is finished, emptied of an earlier run's files (``--force``), then
    ``answers.json`` and ``masks.json`` rewritten after every finished turn and the overlay written at the end (or
    at a failure). A run that finishes no turn leaves the folder untouched."""

    #: The files this tool writes; with ``--force`` only these are removed from the folder.
    FILES = ('answers.json', 'masks.json', 'overlay.mp4', 'overlay.gif')

    def __init__(self, args, session):
        self.args, self.session, self.rle_cache, self.started = args, session, {}, False

    def turn_done(self, results) -> None:
        from sama_mm.apis.chat_outputs import remove_chat_outputs, write_turn_files
        if not self.started:
            os.makedirs(self.args.out, exist_ok=True)
            removed = remove_chat_outputs(self.args.out, self.FILES)
            if removed:
                print(f'[chat] --force: removed {", ".join(removed)} of an earlier run from {self.args.out}',
                      flush=True)
            self.started = True
        write_turn_files(self.args.out, self.session, results, rle_cache=self.rle_cache)

    def finish(self, results) -> List[str]:
        """Write the overlay(s) of the finished turns; returns every file name now in the folder from this run."""
        from sama_mm.apis.chat_outputs import write_overlays
        args = self.args
        if not results:
            print(f'[chat] no turn was finished; nothing was written to {args.out}', flush=True)
            return []
        names = ['answers.json', 'masks.json']  # written after every turn
        bar = _Bar(self.session.num_frames, not args.quiet)
        try:
            names += list(write_overlays(args.out, self.session, results, fps=args.fps, gif=args.gif, progress=bar))
        finally:
            bar.close()
        print(f'[chat] wrote {", ".join(names)} to {args.out}', flush=True)
        return names


def _fail(out: Optional[_Output], results, message: str) -> None:
    """Exit with ``error: <message>``; with ``--out``, the finished turns are saved first (overlay included) and the
    message says so."""
    if out is not None and results:
        try:
            names = out.finish(results)
            message += (f'; the {len(results)} earlier turn(s) are saved in {out.args.out} '
                        f'({", ".join(names)})')
        except Exception as exc:  # noqa: BLE001 - answers.json and masks.json were written after each turn
            message += (f'; the {len(results)} earlier turn(s) are saved in {out.args.out} (answers.json, masks.json; '
                        f'the overlay could not be written: {exc})')
    elif out is not None:
        message += f'; no turn was finished, nothing was written to {out.args.out}'
    sys.exit(f'error: {message}')


if __name__ == '__main__':
    main()
