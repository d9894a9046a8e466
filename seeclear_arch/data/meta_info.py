"""Meta info files (BasicSR convention) and the REDS validation partitions.

One line per clip: ``<clip> <num_frames> (<h>,<w>,<c>)``, e.g. ``000 100 (720,1280,3)`` for REDS or
``00001/0001 7 (256,448,3)`` for Vimeo-90K.  The frame count and shape may be omitted when the dataset
knows them (Vimeo-90K's official ``sep_trainlist.txt`` lists only ``00001/0001``).
"""
import re
from dataclasses import dataclass
from os import path as osp
from typing import Iterable, List, Optional, Tuple

REDS4_CLIPS = ('000', '011', '015', '020')
# BasicSR renames the 30 official REDS validation clips 000..029 to 240..269 and merges them into train_sharp.
REDS_OFFICIAL_VAL_CLIPS = tuple(f'{i:03d}' for i in range(240, 270))
REDS_OFFICIAL_VAL_OFFSET = 240

_SHAPE = re.compile(r'^\((\d+),(\d+),(\d+)\)$')


@dataclass(frozen=True)
class ClipMeta:
    """One line of a meta info file: clip folder (or LMDB key prefix), frame count, HWC shape."""

    name: str
    num_frames: int
    shape: Optional[Tuple[int, int, int]] = None

    def line(self) -> str:
        """The line as written to a meta info file."""
        shape = '' if self.shape is None else ' ({},{},{})'.format(*self.shape)
        return f'{self.name} {self.num_frames}{shape}'


def _parse_line(line: str, where: str, default_num_frames: Optional[int]) -> ClipMeta:
    parts = line.split()
    if len(parts) == 1 and default_num_frames is not None:
        return ClipMeta(parts[0], default_num_frames)
    shape_ok = len(parts) == 2 or (len(parts) == 3 and _SHAPE.match(parts[2]))
    if not (len(parts) in (2, 3) and parts[1].isdigit() and shape_ok):
        raise ValueError(f'{where}: cannot parse {line!r}; expected "<clip> <num_frames> (<h>,<w>,<c>)", '
                         'e.g. "000 100 (720,1280,3)".')
    shape = tuple(int(v) for v in _SHAPE.match(parts[2]).groups()) if len(parts) == 3 else None
    return ClipMeta(parts[0], int(parts[1]), shape)


def read_meta_info(path: Optional[str], option: str = 'meta_info_file',
                   default_num_frames: Optional[int] = None) -> List[ClipMeta]:
    """Parse a meta info file; errors name ``option``, the file and the offending line."""
    if not path:
        raise ValueError(f'Option `{option}` is required but not set.')
    if not osp.isfile(path):
        raise FileNotFoundError(f'Option `{option}`: meta info file {path} does not exist; '
                                'create it with `python -m scripts.generate_meta_info`.')
    with open(path, 'r', encoding='utf-8') as f:
        lines = [(i + 1, ln.strip()) for i, ln in enumerate(f) if ln.strip()]
    if not lines:
        raise ValueError(f'Option `{option}`: meta info file {path} is empty.')
    return [_parse_line(ln, f'{path}:{no}', default_num_frames) for no, ln in lines]


def write_meta_info(path: str, clips: Iterable[ClipMeta]) -> None:
    """Write clips, one line each, in the given order."""
    with open(path, 'w', encoding='utf-8') as f:
        f.writelines(clip.line() + '\n' for clip in clips)


def reds_held_out_clips(val_partition: Optional[str]) -> Tuple[str, ...]:
    """Clips removed from REDS training: 'REDS4' -> 000/011/015/020, 'official' -> 240..269, None -> none."""
    if val_partition is None or str(val_partition).lower() == 'none':
        return ()
    if val_partition == 'REDS4':
        return REDS4_CLIPS
    if val_partition == 'official':
        return REDS_OFFICIAL_VAL_CLIPS
    raise ValueError(f"Option `val_partition` must be 'REDS4', 'official' or none, got {val_partition!r}.")
