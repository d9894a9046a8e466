"""Vimeo-90K septuplet training clips for SeeClear (registered as ``SeeClearVimeoDataset``)."""
from basicsr.utils.registry import DATASET_REGISTRY

from seeclear_arch.data.clip_base import SeeClearClipDataset


@DATASET_REGISTRY.register()
class SeeClearVimeoDataset(SeeClearClipDataset):
    """``num_frame`` consecutive frames out of each Vimeo-90K septuplet (every start position is one item).

    Layout: ``<dataroot>/00001/0001/im1.png ... im7.png`` (``vimeo_septuplet/sequences`` for GT,
    ``vimeo_septuplet_matlabLRx4/sequences`` for LQ); LMDB keys ``00001/0001/im1``.

    Options (besides those of ``SeeClearClipDataset``):
        meta_info_file (str): ``00001/0001 7 (256,448,3)`` per line, or the official ``sep_trainlist.txt``
            (``00001/0001`` per line, 7 frames assumed).
    """

    default_num_frames = 7

    def frame_name(self, index: int) -> str:
        return f'im{index + 1}'
