"""Fixes that let BasicSR 1.4.2 run without CUDA. Global: each one acts only off CUDA, where BasicSR fails without
it, and leaves the GPU path unchanged (tests/compat/test_cpu.py).

3. ``init_dist(launcher='pytorch')`` hard-codes nccl and calls ``torch.cuda.set_device(rank % device_count())`` (a
   division by zero without GPUs). Without CUDA we initialise gloo instead.
4. ``BaseModel.model_to_device`` wraps DDP with ``device_ids=[torch.cuda.current_device()]``; on a CPU device we
   wrap without ``device_ids`` (CPU DDP over gloo).
10. ``VideoBaseModel`` / ``VideoRecurrentModel.dist_validation`` allocate metric tensors on ``'cuda'``; off CUDA we
    allocate them on ``self.device`` first. They also squeeze the fed ``lq`` in place, which on CPU (where
    ``.to(device)`` returns the same tensor) corrupts ``self.lq``; off CUDA the batch is cloned.

The CPU part of resuming (2: ``load_resume_state`` maps onto ``torch.cuda.current_device()``) is in
``seeclear_arch.training.resume``, beside the resume logic it shares a function with.
"""
from seeclear_arch.compat.patching import cuda_usable, mark, patch_attr


def make_init_dist_pytorch(original):
    """Wrap ``basicsr.utils.dist_util._init_dist_pytorch``: gloo and no ``set_device`` without CUDA."""

    def _init_dist_pytorch(backend, **kwargs):
        if cuda_usable():
            return original(backend, **kwargs)
        import torch.distributed as dist
        dist.init_process_group(backend='gloo', **kwargs)

    return mark(_init_dist_pytorch, original)


def make_model_to_device(original):
    """Wrap ``BaseModel.model_to_device``: CPU DDP takes no ``device_ids``."""

    def model_to_device(self, net):
        if not (self.opt['dist'] and self.device.type == 'cpu'):
            return original(self, net)
        from torch.nn.parallel import DistributedDataParallel
        find_unused = self.opt.get('find_unused_parameters', False)
        return DistributedDataParallel(net.to(self.device), find_unused_parameters=find_unused)

    return mark(model_to_device, original)


def make_video_dist_validation(original):
    """Wrap ``VideoBaseModel``/``VideoRecurrentModel.dist_validation``, which allocate ``metric_results`` on
    ``'cuda'``: off CUDA, allocate them on ``self.device`` first (the original then skips its allocation)."""

    def dist_validation(self, dataloader, current_iter, tb_logger, save_img):
        from collections import Counter

        import torch
        metrics = (self.opt.get('val') or {}).get('metrics')
        if self.device.type != 'cuda' and metrics is not None and not hasattr(self, 'metric_results'):
            counts = Counter(dataloader.dataset.data_info['folder'])
            self.metric_results = {folder: torch.zeros(n, len(metrics), dtype=torch.float32, device=self.device)
                                   for folder, n in counts.items()}
        if self.device.type == 'cuda':
            return original(self, dataloader, current_iter, tb_logger, save_img)
        feed_data = self.feed_data  # on CPU ``.to(device)`` aliases the batch, which the loop squeezes in place
        self.feed_data = lambda data: feed_data({k: v.clone() if torch.is_tensor(v) else v for k, v in data.items()})
        try:
            return original(self, dataloader, current_iter, tb_logger, save_img)
        finally:
            del self.feed_data

    return mark(dist_validation, original)


def patch() -> None:
    """Apply fixes 3, 4 and 10 (idempotent)."""
    import basicsr.utils.dist_util
    from basicsr.models.base_model import BaseModel
    from basicsr.models.video_base_model import VideoBaseModel
    from basicsr.models.video_recurrent_model import VideoRecurrentModel

    patch_attr(basicsr.utils.dist_util, '_init_dist_pytorch', make_init_dist_pytorch)
    patch_attr(BaseModel, 'model_to_device', make_model_to_device)
    for cls in (VideoBaseModel, VideoRecurrentModel):
        if 'dist_validation' in vars(cls):
            patch_attr(cls, 'dist_validation', make_video_dist_validation)
