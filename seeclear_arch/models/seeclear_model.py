"""``SeeClearModel``: BasicSR model that trains and samples a clip denoiser with Blurring ResShift.

Network (``network_g``): any ``ARCH_REGISTRY`` entry following the denoiser interface of
``seeclear_arch.archs.denoiser`` (``x0_hat = net(x_t, y, lq, t, cond=None)`` plus optional per-clip hooks).

Condition ``y`` (HR size): bicubic x``scale`` upsampling of the LR frames (``F.interpolate``, bicubic,
``align_corners=False``, clamped to [0, 1]); or, for SeeClear* (Algorithm 1, line 1), the output of a frozen
BasicSR VSR network ``network_base`` (e.g. BasicVSR, EDVR) loaded from ``path.pretrain_network_base``.

Options read by this model (besides BasicSR's ``network_g``, ``path``, ``train.optim_g``, ``train.scheduler``,
``train.ema_decay``, ``train.pixel_opt``, ``val.metrics``, ``val.val_freq``):

    scale (int) [4]
    cpu_keep_freed_memory (bool) [true]: on CPU, make glibc keep freed blocks for reuse instead of unmapping them
        (``seeclear_arch.sampling.cpu_memory``; paper configuration, 2 steps: 38.6 -> 32.9 s per clip, at a higher
        peak RSS; docs/performance.md, "Sampling speed").
    diffusion (dict) [{}]: kwargs of ``BlurringResShift`` (num_timesteps, kappa, power, ...).
    diffusion_range (list of 2 floats) [[-1, 1]]: the process's ``value_range`` (frames in [0, 1] are mapped to
        it; the network sees ``x_t`` and ``y`` in this range and ``lq`` in [0, 1]).
    diffusion_input_scaling (bool) [true]: the process's ``input_scaling`` (ResShift's input normalisation).
        Measured on the demo: 26.19 vs 26.13 dB over ``false``, same budget (docs/results.md).
    datasets.train.num_frame (int) [5]: clip length in training; items of ``num_clips`` clips are split into rows.
    network_base (dict) [absent]: frozen base SR network (SeeClear*); ``path.pretrain_network_base``,
        ``path.param_key_base`` [params], ``path.strict_load_base`` [true]. A network that carries its own weights
        (``has_weights``, e.g. ``DATLight``) needs no path. When resuming, list it in
        ``path.ignore_resume_networks`` (BasicSR would look for ``net_base_<iter>.pth``, which is never saved).
        It runs without gradients, under the sampling dtype (``val.dtype``) when sampling.
    base_mode ('sequence' | 'sliding' | 'image') ['sequence']: ``sequence`` feeds all frames and expects all frames
        back (BasicVSR, IconVSR, BasicVSR++); ``sliding`` feeds a window of ``network_base.num_frame`` [5]
        frames per output frame (reflection padding) and expects the centre frame (EDVR, TDAN); ``image`` runs a
        single-image SR network (DATLight, SwinIR, RRDBNet, HAT, ...) on each frame.
    Training semantics: when the dataset provides ``lq_whole`` (``whole_frame_lq: true``), a frozen distiller runs
        on the whole LR frames and the network gets its outputs at the crop (``SeeClearNet.whole_frame_semantics``).
    Training condition: when the dataset provides ``cond`` (``dataroot_cond``: the base network's outputs on whole
        frames, ``python -m seeclear_arch.data.condition_cache``), training uses that crop as ``y``, so the frozen base
        sees at training what it sees at test; otherwise ``y`` is computed from the LR crop.
    train.trainable ('all' | 'memory' | 'all_but_memory') ['all']: training stage, see ``select_trainable``.
    train.memory_pattern (str) [``MEMORY_PATTERN``]: regex (``re.search`` on parameter names) naming the memory
        parameters; the default matches SeeClearNet's CaTeGory (``memory.*`` and each level's ``*.category.*``).
    train.grad_clip (float | None) [None]: max gradient norm.
    train.temporal_opt (dict | None) [None]: a BasicSR loss (e.g. ``{type: CharbonnierLoss, loss_weight: 1.0}``) between
        the temporal differences ``x_t - x_{t-1}`` of the predicted ``x0`` and of the GT inside each clip, added to
        the pixel loss: penalises flicker the GT does not have, without a flow network. None: the paper's loss alone.
    train.warp_opt (dict | None) [None]: a BasicSR loss between each predicted frame and the next one warped back
        along the GT's optical flow, on the GT's non-occluded pixels (Lai et al.'s short-term temporal loss, the
        training form of E*warp; ``seeclear_arch.models.temporal_losses.WarpConsistency``). None: off.
    train.warp_flow ('farneback' | 'raft') ['farneback']: the flow estimator of ``warp_opt``, run on the GT clips
        without gradients (RAFT-large from the standard torch cache, see ``seeclear_arch.metrics.optical_flow``).
    train.warp_on ('output' | 'residual') ['output']: what ``warp_opt`` keeps consistent along the flow: the predicted
        frames, or what the network adds to its condition (``x0_hat - y``). Warping is linear, so a residual that
        moves with the scene leaves the output exactly as warp-consistent as the condition: detail is allowed, detail
        that does not follow the motion is penalised (docs/steadiness.md).
    train.precision ('fp32' | 'bf16' | 'fp16') ['fp32']: autocast dtype of the network in training steps; fp16 adds
        a gradient scaler whose skipped steps count as non-finite ones (``seeclear_arch.sampling.precision``).
    train.grad_checkpoint (bool | None) [None = network_g's own setting]: activation checkpointing, through the
        network's ``set_grad_checkpoint`` (SeeClearNet: every basic unit and InCAM / CaTeGory attention block).
    val.num_frame (int) [network_g.num_frame, else datasets.train.num_frame, else 5]: clip length ``m``.
    val.num_steps (int | None) [None = T]: sampler steps.
    val.seed (int) [0]: noise seed; clip k draws from (seed, k) (``sampling.engine.clip_seed``), every sequence alike.
    val.noise_scale (float) [1.0]: posterior noise multiplier of every sampler step (0: the posterior mean);
        ``diffusion.noise: shared`` shares the noise over the frames and clips (docs/steadiness.md).
    val.propagation (float) [0 = off], val.propagation_threshold, val.propagation_flow: ``sampling.propagation``.
    val.preset ('fast' | 'balanced' | 'paper' | None) [None]: sets num_steps and dtype (``sampling.presets``).
    val.carry_memory (bool) [true]: pass the memory built at each clip's final step to the next clip (Algorithm 1,
        lines 43-44); false restarts every clip from the learned memory (an ablation).
    val.compile (bool) [false]: sample with ``torch.compile(net)`` (inductor; compiled once per model, again for a new
        frame or tile size): the steps' U-Net passes run compiled, the per-clip hooks (``encode_condition``,
        ``final_step``) eagerly. Fused elementwise work changes float rounding (tests/models/test_seeclear_model.py).
    val.save_img (bool), val.suffix (str | None): images go to
        ``visualization/<dataset>/<folder>/<frame>_<suffix | name | iter>.png`` (VideoBaseModel's naming).
"""
import inspect
import os
from collections import OrderedDict
from os import path as osp
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from basicsr.losses import build_loss
from basicsr.metrics import calculate_metric
from basicsr.models.video_base_model import VideoBaseModel
from basicsr.utils import get_root_logger, tensor2img
from basicsr.utils.dist_util import get_dist_info
from basicsr.utils.registry import MODEL_REGISTRY
from torch import distributed as dist
from torch import nn

from seeclear_arch.archs.denoiser import ClipChain
from seeclear_arch.data.atomic_files import write_png
from seeclear_arch.data.video_test_dataset import frame_names_from_batch
from seeclear_arch.diffusion import BlurringResShift
from seeclear_arch.evaluation.report import write_sequence_metrics
from seeclear_arch.metrics.temporal_metric import is_per_sequence
from seeclear_arch.models.condition import Condition, bicubic_upsample  # noqa: F401 (re-exported)
from seeclear_arch.models.temporal_losses import WarpConsistency, temporal_difference, warp_target
from seeclear_arch.sampling.cpu_memory import keep_freed_memory
from seeclear_arch.sampling.engine import sample_sequence, sampling_options
from seeclear_arch.sampling.precision import MixedPrecision
from seeclear_arch.sampling.presets import with_preset
from seeclear_arch.sampling.progress import SamplingProgress, pbar_option
from seeclear_arch.training.stages import select_trainable

MEMORY_PATTERN = r'(^|\.)(memory|category)\.'


@MODEL_REGISTRY.register()
class SeeClearModel(VideoBaseModel):
    """Diffusion VSR model (Sec. 3-4 of the paper); see the module docstring for its options.

    Reuses SRModel's network building, pretrained loading, EMA, losses, optimizer / scheduler set-up and
    saving, and VideoBaseModel's metric logging. Overrides: ``feed_data``, ``optimize_parameters``,
    ``test`` (clip-wise sampling of a whole sequence) and the validation loop (whole sequences, per-sequence
    metrics, frame names; BasicSR's video loops are frame-wise, need GT and allocate on ``'cuda'``).
    """

    def __init__(self, opt: dict):
        super().__init__(opt)
        if self.device.type == 'cpu':
            get_root_logger().info(f'CPU threads: {torch.get_num_threads()} (seeclear_arch.sampling.threads)')
            if opt.get('cpu_keep_freed_memory', True):
                keep_freed_memory(get_root_logger())  # frame-sized activations: no page faults at every op
        value_range = opt.get('diffusion_range', (-1.0, 1.0))
        if len(value_range) != 2 or not float(value_range[1]) > float(value_range[0]):
            raise ValueError(f'diffusion_range must be [low, high] with high > low, got {value_range}')
        self.diffusion = BlurringResShift.from_opt({**(opt.get('diffusion') or {}), 'value_range': value_range,
                                                    'input_scaling': bool(opt.get('diffusion_input_scaling', True))})
        self.scale = int(opt.get('scale', 4))
        self.condition = Condition.from_opt(opt, self.device)
        self.net_base = self.condition.base
        self.num_skipped = 0
        self.precision = MixedPrecision.from_opt(opt['train'] if self.is_train else None, self.device)
        if self.is_train:
            self._set_grad_checkpoint(opt['train'].get('grad_checkpoint'))
        get_root_logger().info(f'Diffusion: {self.diffusion}; training precision: {self.precision}')

    # ------------------------------------------------------------------------------------ set-up
    def load_network(self, net: nn.Module, load_path: str, strict: bool = True, param_key: str = 'params') -> None:
        """BaseModel's, with an error that names the option and the working directory when the file is missing
        (BasicSR's is a bare ``torch.load`` traceback)."""
        if not osp.isfile(load_path):
            raise FileNotFoundError(
                f'path.pretrain_network_g: the weights file {load_path} does not exist (relative paths start at the '
                f'working directory, {os.getcwd()}). Train a model first (the quickstart writes '
                'experiments/SeeClearStar_demo/models/net_g_latest.pth), point the option at a .pth file, or set it '
                'to ~ to start from random weights.')
        super().load_network(net, load_path, strict, param_key)

    def init_training_settings(self) -> None:
        """SRModel's, plus the optional temporal losses ``train.temporal_opt`` and ``train.warp_opt``."""
        super().init_training_settings()
        train_opt = self.opt['train']
        temporal_opt, warp_opt = train_opt.get('temporal_opt'), train_opt.get('warp_opt')
        self.cri_temporal = build_loss(dict(temporal_opt)).to(self.device) if temporal_opt else None
        self.cri_warp = None
        if warp_opt:
            self.cri_warp = WarpConsistency(build_loss(dict(warp_opt)), train_opt.get('warp_flow', 'farneback'),
                                            self.device).to(self.device)
        self.warp_on = warp_target(train_opt)

    def model_to_device(self, net: nn.Module) -> nn.Module:
        """Freeze the stage's untrained parameters before BasicSR wraps ``net_g`` in DDP."""
        if self.is_train:
            train_opt = self.opt['train']
            mode = train_opt.get('trainable', 'all')
            n, total = select_trainable(net, mode, train_opt.get('memory_pattern', MEMORY_PATTERN))
            get_root_logger().info(f'train.trainable={mode}: training {n:,d} of {total:,d} parameters.')
        return super().model_to_device(net)

    def setup_optimizers(self) -> None:
        """SRModel's, without a warning per frozen parameter and without mutating ``opt``."""
        optim_opt = dict(self.opt['train']['optim_g'])
        optim_type = optim_opt.pop('type')
        params = [p for p in self.net_g.parameters() if p.requires_grad]
        self.optimizer_g = self.get_optimizer(optim_type, params, **optim_opt)
        self.optimizers.append(self.optimizer_g)

    def _set_grad_checkpoint(self, enabled: Optional[bool]) -> None:
        """``train.grad_checkpoint``: switch the network's activation checkpointing (absent: leave it as built)."""
        if enabled is None:
            return
        setter = getattr(self.get_bare_model(self.net_g), 'set_grad_checkpoint', None)
        if setter is None:
            raise ValueError(f"train.grad_checkpoint is set, but network_g ({self.opt['network_g']['type']}) has "
                             'no set_grad_checkpoint method; remove the option or use SeeClearNet.')
        setter(bool(enabled))

    # ---------------------------------------------------------------------------------- condition
    def feed_data(self, data: Dict[str, Any]) -> None:
        self.lq = data['lq'].to(self.device)
        if data.get('gt') is not None:
            self.gt = data['gt'].to(self.device)
        self.cond = data['cond'].to(self.device) if data.get('cond') is not None else None
        whole = data.get('lq_whole')  # dataset option whole_frame_lq: a frozen distiller sees whole frames
        self.whole = None if whole is None else (whole.to(self.device), data['crop'], data['flips'])

    # ----------------------------------------------------------------------------------- training
    def optimize_parameters(self, current_iter: int) -> None:
        """One step: ``t ~ U{1..T}``, ``u_t ~ q(u_t | x0, y)`` (Eq. 25), Charbonnier on ``x0_hat``, all frames.

        An item of ``K`` consecutive clips (dataset ``num_clips: K``; docs/formulation.md D11) trains all ``K`` clips,
        each at its own ``t``; clip ``k + 1`` queries the memory the network builds from clip ``k`` at the sampler's
        final step (``ClipChain``), as in sampling."""
        self.optimizer_g.zero_grad()
        lq, gt = self.clip_rows(self.lq), self.clip_rows(self.gt)  # (B*K, m, ...)
        num_clips = lq.size(0) // self.lq.size(0)
        process = self.diffusion
        y = process.to_range(self.clip_rows(self.cond if self.cond is not None else self.condition(self.lq)))
        x0 = process.to_range(gt)
        t = process.sample_t(lq.size(0), device=self.device)
        x_t = process.q_sample(x0, y, t)
        kwargs = {'chain': self._chain(x0, y, num_clips)} if num_clips > 1 and self._net_takes_chain() else {}
        if self.whole is not None:
            kwargs['semantics'] = self._whole_frame_semantics()
        with self.precision.autocast():  # the network only; the diffusion maths and the loss stay float32
            out = self.net_g(process.scale_model_input(x_t, t), y, lq, t.to(x_t.dtype), **kwargs)
        self.output = process.from_range(out.float())
        l_pix = self.cri_pix(self.output, gt)
        loss_dict = OrderedDict(l_pix=l_pix.detach())
        if self.cri_temporal is not None:
            l_temp = self.cri_temporal(temporal_difference(self.output), temporal_difference(gt))
            loss_dict['l_temporal'] = l_temp.detach()
            l_pix = l_pix + l_temp
        if self.cri_warp is not None:
            target = self.output if self.warp_on == 'output' else self.output - process.from_range(y)
            l_warp = self.cri_warp(target, gt)
            loss_dict['l_warp'] = l_warp.detach()
            l_pix = l_pix + l_warp
        self.precision.backward(l_pix)
        if self._step_if_finite(l_pix):
            if self.ema_decay > 0:
                self.model_ema(decay=self.ema_decay)
        loss_dict['l_skipped_nonfinite'] = torch.tensor(float(self.num_skipped), device=self.device)
        self.log_dict = self.reduce_loss_dict(loss_dict)

    def train_clip_length(self) -> int:
        """Frames per training clip: ``datasets.train.num_frame`` [5]."""
        return int(((self.opt.get('datasets') or {}).get('train') or {}).get('num_frame', 5))

    def clip_rows(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, K*m, ...)`` items of ``K`` consecutive clips -> ``(B*K, m, ...)`` rows, sequence-major."""
        m = self.train_clip_length()
        if frames.size(1) % m:
            raise ValueError(f'a training item has {frames.size(1)} frames, not a multiple of the clip length '
                             f'datasets.train.num_frame = {m}')
        return frames.unflatten(1, (frames.size(1) // m, m)).flatten(0, 1)

    def _chain(self, x0: torch.Tensor, y: torch.Tensor, num_clips: int) -> ClipChain:
        """Each clip's state at the sampler's final step (``t = 1``), for the memory of the next clip."""
        s = torch.ones(x0.size(0), dtype=torch.long, device=self.device)
        x_s = self.diffusion.q_sample(x0, y, s)
        return ClipChain(self.diffusion.scale_model_input(x_s, s), s.to(x_s.dtype), num_clips)

    def _whole_frame_semantics(self):
        """The frozen distiller's outputs for the training crops, from the whole frames (``whole_frame_lq``)."""
        net = self.get_bare_model(self.net_g)
        if not hasattr(net, 'whole_frame_semantics'):
            raise ValueError(f"datasets.train.whole_frame_lq is set, but network_g ({self.opt['network_g']['type']}) "
                             'has no whole_frame_semantics method; remove the option or use SeeClearNet.')
        with self.precision.autocast():
            tokens, seg = net.whole_frame_semantics(*self.whole)
        return tokens.float(), seg.float()

    def _net_takes_chain(self) -> bool:
        return 'chain' in inspect.signature(self.get_bare_model(self.net_g).forward).parameters

    def _step_if_finite(self, loss: torch.Tensor) -> bool:
        """Clip gradients (``train.grad_clip``) and step, unless the loss or gradients are NaN/inf on any rank."""
        params = [p for p in self.net_g.parameters() if p.requires_grad]
        max_norm = self.opt['train'].get('grad_clip') or float('inf')
        self.precision.unscale_(self.optimizer_g)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        bad = (~torch.isfinite(loss.detach()) | ~torch.isfinite(grad_norm)).float()
        if self.opt['dist']:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)  # every rank skips together
        if bad.item() > 0:
            self.optimizer_g.zero_grad()
            self.precision.skip()
            self.num_skipped += 1
            get_root_logger().warning(f'Non-finite loss or gradient (loss {loss.item()}, grad norm '
                                      f'{grad_norm.item()}): step skipped ({self.num_skipped} so far).')
            return False
        self.precision.step(self.optimizer_g)
        return True

    def train_state_dict(self) -> Dict[str, Any]:
        """Training-time state saved in ``.state`` files for an exact resume (``seeclear_arch.compat``)."""
        return {'num_skipped': self.num_skipped, 'precision': self.precision.state_dict()}

    def load_train_state_dict(self, state: Dict[str, Any]) -> None:
        self.num_skipped = int(state['num_skipped'])
        self.precision.load_state_dict(state.get('precision', {}))  # fp16: the gradient scaler's scale

    # ------------------------------------------------------------------------------------ testing
    def inference_net(self) -> nn.Module:
        """The network used for sampling: the EMA copy when training keeps one, in eval mode; compiled with
        ``val.compile`` (the compiled wrapper passes the per-clip hooks through to the network)."""
        net = (self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)).eval()
        if not (self.opt.get('val') or {}).get('compile'):
            return net
        compiled = getattr(self, '_compiled_net', None)
        if compiled is None or compiled._orig_mod is not net:
            self._compiled_net = compiled = torch.compile(net)
        return compiled.eval()

    def clip_length(self) -> int:
        """Test clip length ``m``: ``val.num_frame``, else ``network_g.num_frame``, else the train clips', else 5."""
        val_opt = self.opt.get('val') or {}
        train_set = (self.opt.get('datasets') or {}).get('train') or {}
        for value in (val_opt.get('num_frame'), self.opt['network_g'].get('num_frame'), train_set.get('num_frame')):
            if value is not None:
                return int(value)
        return 5

    def test(self) -> None:
        """Super-resolve the whole sequence ``self.lq`` ``(1, N, C, h, w)`` clip by clip (Algorithm 1) with the
        sampling engine and the ``val`` options above; ``val.pbar`` (true or steps) shows progress on a terminal."""
        val_opt = with_preset(self.opt.get('val'))
        pbar = pbar_option(val_opt.get('pbar'))
        with SamplingProgress(self.lq.size(1), 'test', enabled=None if pbar else False,
                              steps=pbar == 'steps') as progress:
            chunks = sample_sequence(self.inference_net(), self.diffusion, lambda idx: self.lq[:, list(idx)],
                                     self.lq.size(1), self.clip_length(), self.condition, device=self.device,
                                     progress=progress, **sampling_options(val_opt))
            self.output = torch.cat([frames for _, frames in chunks], dim=1)
        if self.is_train:
            self.net_g.train()

    # --------------------------------------------------------------------------------- validation
    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        self.dist_validation(dataloader, current_iter, tb_logger, save_img)

    def dist_validation(self, dataloader, current_iter, tb_logger, save_img):
        """Whole sequences, split across ranks; per-sequence means gathered on rank 0 and logged by
        VideoBaseModel (mean over sequences). Works without ``dist`` too (one rank)."""
        dataset = dataloader.dataset
        dataset_name = dataset.opt['name']
        metrics = self.opt['val'].get('metrics') or {}
        rank, world_size = get_dist_info()
        local = {}
        for idx in range(rank, len(dataset), world_size):
            item = dataset[idx]
            local[idx] = (item['folder'], self._validate_sequence(item, dataset_name, current_iter, save_img))
        results = self._gather(local, world_size)
        if metrics and rank == 0:
            self._initialize_best_metric_results(dataset_name)
            self.metric_results = {folder: torch.tensor([values], dtype=torch.float32)
                                   for _, (folder, values) in sorted(results.items())}
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)
            self._write_metric_files(dataset_name, current_iter, list(metrics))

    def _write_metric_files(self, dataset_name: str, current_iter, names: List[str]) -> None:
        """The validation's metrics beside the log, in the experiment (training) or results (test) folder."""
        rows = {folder: dict(zip(names, values.flatten().tolist())) for folder, values in self.metric_results.items()}
        suffix = current_iter if self.opt['is_train'] else self.opt['name']
        write_sequence_metrics(osp.join(osp.dirname(self.opt['path']['visualization']),
                                        f'metrics_{dataset_name}_{suffix}'), rows, names)

    def _gather(self, local: dict, world_size: int) -> dict:
        if not (self.opt['dist'] and world_size > 1):
            return local
        gathered = [None] * world_size
        dist.all_gather_object(gathered, local)
        return {k: v for part in gathered for k, v in part.items()}

    def _validate_sequence(self, item: dict, dataset_name: str, current_iter, save_img: bool) -> List[float]:
        """Sample one sequence item, save its frames, return one value per ``val.metrics`` entry."""
        gt = item.get('gt')
        self.feed_data({'lq': item['lq'].unsqueeze(0)})
        self.test()
        sr_imgs = [tensor2img(frame) for frame in self.output[0].cpu()]
        gt_imgs = None if gt is None else [tensor2img(frame) for frame in gt]
        del self.lq, self.output
        names = item.get('frame_names')
        names = frame_names_from_batch(names) if names is not None else [f'{i:08d}' for i in range(len(sr_imgs))]
        if save_img:
            self._save_frames(sr_imgs, names, dataset_name, item['folder'], current_iter)
        return self.sequence_metrics(sr_imgs, gt_imgs)

    def _save_frames(self, imgs: List[np.ndarray], names: List[str], dataset_name: str, folder: str,
                     current_iter) -> None:
        suffix = current_iter if self.opt['is_train'] else (self.opt['val'].get('suffix') or self.opt['name'])
        for img, name in zip(imgs, names):
            write_png(osp.join(self.opt['path']['visualization'], dataset_name, folder, f'{name}_{suffix}.png'), img)

    def sequence_metrics(self, sr_imgs: List[np.ndarray], gt_imgs: Optional[List[np.ndarray]]) -> List[float]:
        """Per-frame metrics averaged over the frames; ``per_sequence`` metrics once on the frame lists."""
        values = []
        for opt_ in (self.opt['val'].get('metrics') or {}).values():
            if is_per_sequence(opt_['type']):
                if gt_imgs is None:
                    raise ValueError(f"val.metrics type {opt_['type']} compares SR with GT frames, but this "
                                     'dataset has no dataroot_gt: set it or remove the metric.')
                data = {'img': sr_imgs, 'img2': gt_imgs}
                values.append(float(calculate_metric(data, opt_)))
                continue
            frames = [{'img': s} if gt_imgs is None else {'img': s, 'img2': g}
                      for s, g in zip(sr_imgs, gt_imgs or sr_imgs)]
            values.append(float(np.mean([calculate_metric(d, opt_) for d in frames])))
        return values
