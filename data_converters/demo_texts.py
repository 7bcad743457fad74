"""The texts of the demo data set, shared by the builder, the quickstart's chat and the demo evaluation.

Every question and answer of the demo is derived from the known objects of a clip (colour, shape, direction of
motion), so an answer can be checked against the ground truth: a referring answer grounds the named object, a
region answer names the region's colour and shape.
"""
from typing import List, Sequence, Tuple

REFER_QUESTION = 'Please segment {exp}.'
REGION_QUESTION = 'What is <mask> doing in the video?'
COLOUR_FOLLOW_UP = 'What colour is it?'
MOTION_FOLLOW_UP = 'Which way does it move?'
PAIR_QUESTION = 'Please segment {a} and {b}.'
RELATION_QUESTION = 'Where does <mask> start relative to <mask>?'
ALL_QUESTION = 'Which shapes can you see in the video?'


def the(name: str, capital: bool = False) -> str:
    """``'the magenta diamond'`` (or ``'The ...'``)."""
    return ('The ' if capital else 'the ') + name


def refer_answer(name: str) -> str:
    """The grounded answer to a referring question: the object named back, then its ``[SEG]``."""
    return f'<p> {the(name, True)} </p> [SEG].'


def region_answer(name: str, direction: str) -> str:
    """The answer to :data:`REGION_QUESTION`: what the region is (colour and shape), grounded, and its motion."""
    return f'<p> {the(name, True)} </p> [SEG] is moving {direction}.'


def pair_answer(a: str, b: str) -> str:
    """The answer to :data:`PAIR_QUESTION`: two grounded phrases, two ``[SEG]``."""
    return f'<p> {the(a, True)} </p> [SEG] and <p> {the(b)} </p> [SEG].'


def names_in(answer: str, colours: Sequence[str], shapes: Sequence[str]) -> Tuple[List[str], List[str]]:
    """The colour and shape words an answer uses, in the order of ``colours`` and ``shapes``."""
    words = set(answer.lower().replace('.', ' ').replace(',', ' ').split())
    return [c for c in colours if c in words], [s for s in shapes if s in words]


def names_object(answer: str, colour: str, shape: str, colours: Sequence[str], shapes: Sequence[str]) -> bool:
    """Whether ``answer`` names the object (its colour and its shape) and no other colour or shape."""
    used_colours, used_shapes = names_in(answer, colours, shapes)
    return used_colours == [colour] and used_shapes == [shape]
