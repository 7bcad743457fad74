"""Dataset checks: every problem of an annotation set, each naming its file and record."""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .errors import DataError


@dataclass
class CheckReport:
    """The result of checking one dataset against its format and the files on disk.

    Attributes:
        dataset: Class name of the dataset.
        ann_file: The annotation file checked.
        counts: What was found (records, videos, objects, ...), in insertion order.
        problems: Every problem found; empty when the dataset is sound.
    """
    dataset: str
    ann_file: str
    counts: Dict[str, int] = field(default_factory=dict)
    problems: List[DataError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self, max_problems: Optional[int] = 50) -> str:
        """A human-readable report: the counts, then one line per problem."""
        lines = [f'{self.dataset}: {self.ann_file}']
        if self.counts:
            lines.append('  ' + '   '.join(f'{k}: {v}' for k, v in self.counts.items()))
        kinds = Counter(p.kind for p in self.problems)
        summary = ', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))
        lines.append(f'  problems: {len(self.problems)}' + (f' ({summary})' if summary else ''))
        shown = self.problems if max_problems is None else self.problems[:max_problems]
        lines += [f'    {p}' for p in shown]
        if len(shown) < len(self.problems):
            lines.append(f'    ... and {len(self.problems) - len(shown)} more')
        return '\n'.join(lines)


def raise_first(problems: List[DataError]) -> None:
    """Raise the first problem, saying how many more there are (used when a dataset loads)."""
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        first.args = (f'{first.args[0]} (and {len(problems) - 1} more problems; '
                      'run tools/check_dataset.py for the full report)', )
    raise first
