"""REDS training clips for SeeClear (registered as ``SeeClearREDSDataset``)."""
from basicsr.utils.registry import DATASET_REGISTRY

from seeclear_arch.data.clip_base import SeeClearClipDataset
from seeclear_arch.data.meta_info import reds_held_out_clips


@DATASET_REGISTRY.register()
class SeeClearREDSDataset(SeeClearClipDataset):
    """REDS ``train_sharp`` / ``train_sharp_bicubic/X4`` clips of ``num_frame`` consecutive frames.

    Options (besides those of ``SeeClearClipDataset``):
        meta_info_file (str): e.g. ``meta_info_REDS_GT.txt`` (``000 100 (720,1280,3)`` per line).
        val_partition ('REDS4' | 'official' | None) ['REDS4']: clips held out from training. REDS4 holds out
            000, 011, 015, 020; 'official' holds out 240..269, i.e. the official REDS validation clips 000..029
            after ``scripts/regroup_reds.py regroup-val`` moved them into ``train_sharp`` as 240..269 (BasicSR's
            convention); None keeps every clip (any folder names, e.g. the demo data).
        filename_tmpl (str) ['08d']: frame file stem format, frame ``i`` is ``f'{i:{filename_tmpl}}'``.
    """

    def __init__(self, opt: dict):
        self._held_out = set(reds_held_out_clips(opt.get('val_partition', 'REDS4')))
        self._tmpl = opt.get('filename_tmpl', '08d')
        super().__init__(opt)

    def frame_name(self, index: int) -> str:
        return f'{index:{self._tmpl}}'

    def keep_clip(self, name: str) -> bool:
        return name not in self._held_out
