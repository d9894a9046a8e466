"""SeeClearModel in-process: training step, stages, NaN skip, clip-wise sampling, hooks, validation."""
import json
from os import path as osp
from types import SimpleNamespace
from typing import Any, List

import numpy as np
import pytest
import torch
from basicsr.models import build_model
from basicsr.utils.registry import ARCH_REGISTRY, METRIC_REGISTRY

from seeclear_arch.archs.denoiser import ClipDenoiser
from seeclear_arch.data.video_test_dataset import SeeClearVideoTestDataset
from seeclear_arch.models.condition import bicubic_upsample
from tests.helpers import SCALE, model_options, val_dataset

CALLS: List[Any] = []
SEQ_LENGTHS: List[int] = []


class _RecordingDenoiser(ClipDenoiser):
    """Records the per-clip hooks and forward calls; predicts ``y`` (plus a learned scalar); its "memory" names the
    clip it was built from."""

    def __init__(self, bias: float = 0.0):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor(bias))

    def encode_condition(self, lq, y, memory=None):
        CALLS.append(('encode', lq[0, :, 0, 0, 0].tolist(), memory))
        return ('cond', round(float(lq[0, 0, 0, 0, 0]) * 10))

    def forward(self, x_t, y, lq, t, cond=None):
        CALLS.append(('forward', cond, t.tolist()))
        return y + self.bias

    def final_step(self, x_t, y, lq, t, cond):
        CALLS.append(('final', cond, t.tolist()))
        return y + self.bias, f'built from clip at frame {cond[1]}'


def _seq_len_metric(img, img2, **kwargs):
    SEQ_LENGTHS.append((len(img), len(img2)))
    return float(len(img))


_seq_len_metric.per_sequence = True
if 'SeeClearTestRecordingDenoiser' not in ARCH_REGISTRY:
    ARCH_REGISTRY.register(type('SeeClearTestRecordingDenoiser', (_RecordingDenoiser, ), {}))
if 'calculate_seeclear_test_seq_len' not in METRIC_REGISTRY:
    METRIC_REGISTRY._do_register('calculate_seeclear_test_seq_len', _seq_len_metric)


def _batch(gt_value: float = 0.5):
    lq = torch.rand(2, 3, 3, 8, 8)
    return {'lq': lq, 'gt': torch.full((2, 3, 3, 8 * SCALE, 8 * SCALE), gt_value)}


def _params(net) -> List[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_train_step_updates_weights_and_ema(root):
    model = build_model(model_options(root))
    before, ema_before = _params(model.net_g), _params(model.net_g_ema)
    model.feed_data(_batch())
    model.optimize_parameters(1)
    assert set(model.get_current_log()) == {'l_pix', 'l_skipped_nonfinite'}
    assert np.isfinite(model.log_dict['l_pix']) and model.log_dict['l_skipped_nonfinite'] == 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(ema_before, model.net_g_ema.parameters()))
    assert model.optimizer_g.defaults['betas'] == (0.5, 0.999)
    assert type(model.schedulers[0]).__name__ == 'CosineAnnealingRestartLR'


def test_nonfinite_loss_skips_the_step(root):
    model = build_model(model_options(root))
    before, ema_before = _params(model.net_g), _params(model.net_g_ema)
    model.feed_data(_batch(gt_value=float('nan')))
    model.optimize_parameters(1)
    assert model.log_dict['l_skipped_nonfinite'] == 1
    assert all(torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(ema_before, model.net_g_ema.parameters()))
    assert not model.optimizer_g.state  # Adam never stepped
    model.feed_data(_batch())
    model.optimize_parameters(2)  # a finite batch trains again
    assert model.log_dict['l_skipped_nonfinite'] == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))


class _ChainRecorder(_RecordingDenoiser):
    """Accepts ``chain`` (consecutive-clip training) and records what the model passes."""

    def forward(self, x_t, y, lq, t, cond=None, chain=None):
        CALLS.append(('forward', x_t.shape, lq[:, 0, 0, 0, 0].tolist(), t.tolist(), chain))
        return y + self.bias


if 'SeeClearTestChainRecorder' not in ARCH_REGISTRY:
    ARCH_REGISTRY.register(type('SeeClearTestChainRecorder', (_ChainRecorder, ), {}))


def test_an_item_of_two_clips_trains_both_clips_with_a_chain(root):
    """An item of K = 2 consecutive clips of m = 3 frames becomes 2 rows per sequence (sequence-major), each at its
    own t, and the net gets every clip's state at the sampler's final step (t = 1) to build the next memory."""
    opt = model_options(root)
    opt['network_g'] = {'type': 'SeeClearTestChainRecorder', 'bias': 0.0}
    model = build_model(opt)
    lq = torch.arange(12.0).view(2, 6, 1, 1, 1).expand(2, 6, 3, 8, 8) / 100
    model.feed_data({'lq': lq, 'gt': torch.rand(2, 6, 3, 8 * SCALE, 8 * SCALE)})
    CALLS.clear()
    model.optimize_parameters(1)
    (_, shape, first_frames, t, chain), = CALLS
    assert shape == (4, 3, 3, 8 * SCALE, 8 * SCALE) and chain.num_clips == 2
    assert [round(v * 100) for v in first_frames] == [0, 3, 6, 9]  # seq 0 clip 0, seq 0 clip 1, seq 1 ...
    assert len(t) == 4 and chain.t.tolist() == [1.0] * 4 and chain.x_t.shape == shape
    assert model.output.shape == (4, 3, 3, 8 * SCALE, 8 * SCALE)


def test_a_net_without_chain_trains_consecutive_clips_independently(root):
    model = _recording_model(root)
    model.feed_data({'lq': torch.rand(1, 6, 3, 8, 8), 'gt': torch.rand(1, 6, 3, 8 * SCALE, 8 * SCALE)})
    CALLS.clear()
    model.optimize_parameters(1)
    assert [c[0] for c in CALLS] == ['forward'] and len(CALLS[0][2]) == 2  # one call, 2 rows, each its own t


def test_an_item_that_is_not_whole_clips_is_a_clear_error(root):
    model = build_model(model_options(root))
    model.feed_data({'lq': torch.rand(1, 4, 3, 8, 8), 'gt': torch.rand(1, 4, 3, 8 * SCALE, 8 * SCALE)})
    with pytest.raises(ValueError, match='not a multiple of the clip length'):
        model.optimize_parameters(1)


@pytest.mark.parametrize('mode, trained', [('memory', {'t_embed'}), ('all_but_memory', {'head', 'body', 'tail'})])
def test_trainable_stage_limits_the_optimizer(root, mode, trained):
    model = build_model(model_options(root, trainable=mode, memory_pattern='t_embed'))
    optimized = {id(p) for group in model.optimizer_g.param_groups for p in group['params']}
    names = {n.split('.')[0] for n, p in model.net_g.named_parameters() if id(p) in optimized}
    assert names == trained
    model.feed_data(_batch())
    model.optimize_parameters(1)
    assert np.isfinite(model.log_dict['l_pix'])


def _recording_model(root, bias: float = 0.0, **val):
    opt = model_options(root)
    opt['network_g'] = {'type': 'SeeClearTestRecordingDenoiser', 'bias': bias}
    opt['val'].update(val)
    return build_model(opt)


def test_test_calls_hooks_in_order_and_mirrors_the_tail(root):
    model = _recording_model(root, num_frame=3, num_steps=2)
    lq = torch.arange(7.0).view(1, 7, 1, 1, 1).expand(1, 7, 3, 8, 8) / 10
    model.feed_data({'lq': lq})
    CALLS.clear()
    model.test()
    assert model.output.shape == (1, 7, 3, 8 * SCALE, 8 * SCALE)
    kinds = [c[0] for c in CALLS]
    assert kinds == ['encode', 'forward', 'final'] * 3
    clips = [[round(v * 10) for v in c[1]] for c in CALLS if c[0] == 'encode']
    assert clips == [[0, 1, 2], [3, 4, 5], [6, 5, 4]]  # tail mirrored
    steps = [c for c in CALLS if c[0] in ('forward', 'final')]
    assert [c[1] for c in steps] == [('cond', 0)] * 2 + [('cond', 3)] * 2 + [('cond', 6)] * 2  # one per clip
    assert [c[2][0] for c in steps[:2]] == [4.0, 1.0]  # val.num_steps=2 of T=4
    memories = [c[2] for c in CALLS if c[0] == 'encode']  # the engine passes each clip's memory to the next
    assert memories == [None, 'built from clip at frame 0', 'built from clip at frame 3']


def test_carry_memory_false_starts_every_clip_from_the_learned_memory(root):
    model = _recording_model(root, num_frame=3, num_steps=1, carry_memory=False)
    model.feed_data({'lq': torch.rand(1, 4, 3, 8, 8)})
    CALLS.clear()
    model.test()
    assert [c[0] for c in CALLS] == ['encode', 'forward'] * 2  # no memory is built that nothing would query
    assert [c[2] for c in CALLS if c[0] == 'encode'] == [None, None]


def test_test_is_reproducible_and_seeded(root):
    lq = torch.rand(1, 4, 3, 8, 8)
    model = build_model(model_options(root))
    outs = []
    for seed in (0, 0, 1):
        model.opt['val'].update(seed=seed, num_steps=2)
        model.feed_data({'lq': lq})
        model.test()
        outs.append(model.output)
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])
    assert outs[0].min() >= 0 and outs[0].max() <= 1


def test_val_propagation_fuses_the_tested_frames(root):
    """``val.propagation`` reaches the engine in ``test`` (validation during training and ``seeclear_arch.test``)."""
    lq = torch.rand(1, 4, 3, 8, 8)
    model = build_model(model_options(root))
    outs = []
    for strength in (0, 0.5):
        model.opt['val'].update(num_steps=2, propagation=strength, propagation_threshold=255)
        model.feed_data({'lq': lq})
        model.test()
        outs.append(model.output)
    del model.opt['val']['propagation'], model.opt['val']['propagation_threshold']
    assert torch.equal(outs[1][:, 0], outs[0][:, 0]) and not torch.equal(outs[1][:, 1:], outs[0][:, 1:])


def test_val_preset_sets_the_steps_of_test(root):
    lq = torch.rand(1, 3, 3, 8, 8)
    model = build_model(model_options(root))
    outs = []
    for val in ({'num_steps': 1, 'preset': 'paper'}, {'num_steps': None, 'preset': None}):
        model.opt['val'].update(val)
        model.feed_data({'lq': lq})
        model.test()
        outs.append(model.output)
    del model.opt['val']['preset']
    assert torch.equal(outs[0], outs[1])  # the preset replaced the yml's num_steps


def test_validation_metrics_per_frame_and_per_sequence(root):
    model = _recording_model(root, num_frame=3, num_steps=1)
    model.opt['val']['metrics']['seq_len'] = {'type': 'calculate_seeclear_test_seq_len'}
    dataset_opt = dict(val_dataset(osp.join(root, 'data')), phase='val', scale=SCALE)
    loader = SimpleNamespace(dataset=SeeClearVideoTestDataset(dataset_opt))
    SEQ_LENGTHS.clear()
    model.validation(loader, current_iter=7, tb_logger=None, save_img=True)
    assert SEQ_LENGTHS == [(7, 7), (2, 2)]  # once per sequence, on whole frame lists
    assert set(model.metric_results) == {'seq0', 'seq1'}
    assert model.metric_results['seq0'][0, 1].item() == 7
    psnr = model.metric_results['seq0'][0, 0].item()
    assert 10 < psnr < 60  # bicubic-quality prediction (the recording net returns y)
    vis = osp.join(model.opt['path']['visualization'], 'tiny_val')
    assert osp.isfile(osp.join(vis, 'seq0', '00000006_7.png'))
    assert osp.isfile(osp.join(vis, 'seq1', '00000001_7.png'))
    assert model.best_metric_results['tiny_val']['seq_len']['val'] == pytest.approx(4.5)  # mean over sequences
    stem = osp.join(osp.dirname(model.opt['path']['visualization']), 'metrics_tiny_val_7')
    with open(stem + '.json') as f:
        report = json.load(f)  # the log's numbers, also as files
    assert report['sequences']['seq0']['seq_len'] == 7 and report['mean']['seq_len'] == pytest.approx(4.5)
    assert report['sequences']['seq0']['psnr'] == pytest.approx(psnr)
    with open(stem + '.csv') as f:
        lines = f.read().splitlines()
    assert lines[0] == 'sequence,psnr,seq_len' and lines[-1].startswith('mean,') and len(lines) == 4


def test_sequence_metric_without_gt_is_a_clear_error(root):
    model = _recording_model(root, num_frame=3, num_steps=1)
    model.opt['val']['metrics'] = {'seq_len': {'type': 'calculate_seeclear_test_seq_len'}}
    with pytest.raises(ValueError, match='no dataroot_gt'):
        model.sequence_metrics([np.zeros((4, 4, 3), np.uint8)] * 2, None)


def test_clip_length_falls_back_to_the_training_clips_then_5(root):
    model = build_model(model_options(root))
    assert model.clip_length() == 3  # val.num_frame
    model.opt['val']['num_frame'] = None
    model.opt['datasets']['train']['num_frame'] = 4
    assert model.clip_length() == 4  # datasets.train.num_frame
    del model.opt['datasets']['train']
    assert model.clip_length() == 5


@pytest.mark.parametrize('value_range', [(-1.0, 1.0), (0.0, 1.0)])
def test_diffusion_runs_in_diffusion_range_and_an_exact_denoiser_returns_y(root, value_range):
    """The denoiser sees ``y`` mapped to ``diffusion_range``; predicting ``y`` exactly gives bicubic back."""
    opt = model_options(root)
    opt['network_g'] = {'type': 'SeeClearTestRecordingDenoiser', 'bias': 0.0}
    opt['diffusion_range'] = list(value_range)
    model = build_model(opt)
    seen = []
    net = model.get_bare_model(model.net_g_ema if hasattr(model, 'net_g_ema') else model.net_g)
    net.register_forward_hook(lambda mod, args, out: seen.append(args[1].min().item()))
    lq = torch.zeros(1, 3, 3, 8, 8)  # black frames: y = 0 in [0, 1]
    model.feed_data({'lq': lq})
    model.test()
    assert seen and all(v == pytest.approx(value_range[0]) for v in seen)
    torch.testing.assert_close(model.output, bicubic_upsample(lq, SCALE))


def test_diffusion_range_must_be_increasing(root):
    opt = model_options(root)
    opt['diffusion_range'] = [1, -1]
    with pytest.raises(ValueError, match='diffusion_range'):
        build_model(opt)


@pytest.mark.parametrize('scaling', [True, False])
def test_input_scaling_divides_the_state_by_its_marginal_std(root, scaling):
    """ResShift's normalize_input: the denoiser sees x_t / sqrt(kappa^2 eta_t + 1)."""
    opt = model_options(root)
    opt['diffusion_input_scaling'] = scaling
    model = build_model(opt)
    x_t, t = torch.ones(2, 1, 3, 4, 4), torch.tensor([1, 4])
    etas = model.diffusion.etas[t].float()
    expected = 1 / torch.sqrt(model.diffusion.kappa ** 2 * etas + 1) if scaling else torch.ones(2)
    torch.testing.assert_close(model.diffusion.scale_model_input(x_t, t)[:, 0, 0, 0, 0], expected)


def test_val_compile_samples_like_eager(root):
    """val.compile samples through torch.compile (inductor): the same frames within float rounding (its fused
    elementwise kernels round differently; 1e-5 on [0, 1] frames), and the per-clip hooks still run."""
    lq = torch.rand(1, 3, 3, 8, 8)
    model = build_model(model_options(root))
    model.opt['val'].update(seed=0, num_steps=2)
    model.feed_data({'lq': lq})
    model.test()
    eager = model.output
    model.opt['val']['compile'] = True
    model.test()
    net = model.inference_net()
    assert isinstance(net, torch._dynamo.eval_frame.OptimizedModule) and net is model.inference_net()
    torch.testing.assert_close(model.output, eager, atol=1e-5, rtol=0)


@pytest.mark.parametrize('keep', [True, False])
def test_cpu_model_keeps_freed_memory_unless_switched_off(root, monkeypatch, keep):
    """On CPU the model asks glibc to reuse freed blocks (seeclear_arch.sampling.cpu_memory);
    ``cpu_keep_freed_memory: false`` leaves the allocator alone."""
    import seeclear_arch.models.seeclear_model as seeclear_model
    calls = []
    monkeypatch.setattr(seeclear_model, 'keep_freed_memory', lambda logger=None: calls.append(logger) or True)
    opt = model_options(root)
    if not keep:
        opt['cpu_keep_freed_memory'] = False
    build_model(opt)
    assert len(calls) == int(keep)


def test_a_frozen_distiller_sees_whole_frames_in_training(root):
    """``whole_frame_lq``: the training step runs the frozen distiller on the whole LR frames of the batch, never on
    the crops, and trains the rest."""
    from basicsr.data import build_dataset
    from torch.utils.data import default_collate
    opt = model_options(root)
    opt['network_g'] = dict(type='SeeClearNet', num_feat=8, channel_mult=(1, 2, 2, 2), num_units=(1, 1, 1, 1),
                            num_middle_blocks=1, head_dim=4, window_size=4, mfsa_window=4, token_dim=16,
                            num_clip_tokens=3, clip_encoder_layers=1, clip_decoder_layers=1, memory_size=4,
                            memory_dim=16, memory_pool=2, freeze_distiller=True,
                            distiller=dict(type='SeeClearLightDistiller', num_feat=4, seg_dim=4, token_dim=8,
                                           num_tokens=3, num_queries=4, num_heads=2, pool_size=2))
    opt['datasets']['train'].update(whole_frame_lq=True)
    dataset = build_dataset(opt['datasets']['train'])
    batch = default_collate([dataset[0], dataset[1]])
    assert batch['lq_whole'].shape == (2, 3, 3, 8, 8) and batch['lq'].shape == (2, 3, 3, 4, 4)
    model = build_model(opt)
    net = model.get_bare_model(model.net_g)
    seen = []
    net.distiller.register_forward_hook(lambda mod, args, out: seen.append(tuple(args[0].shape)))
    before = {n: p.detach().clone() for n, p in net.named_parameters() if p.requires_grad}
    model.feed_data(batch)
    model.optimize_parameters(1)
    assert seen == [(6, 3, 8, 8)]  # 2 items x 3 frames, whole 8x8 frames
    assert any(not torch.equal(before[n], p) for n, p in net.named_parameters() if p.requires_grad)


@pytest.mark.parametrize('noise', ['iid', 'shared'])
def test_training_draws_the_process_noise(root, noise):
    """``diffusion.noise`` acts in training too: on a static clip the noisy input is the same in every frame only
    with shared noise."""
    opt = model_options(root)
    opt['diffusion'] = dict(opt['diffusion'], noise=noise)
    model = build_model(opt)
    seen = []
    model.get_bare_model(model.net_g).register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    lq = torch.rand(1, 1, 3, 8, 8).expand(1, 6, 3, 8, 8)
    gt = torch.rand(1, 1, 3, 32, 32).expand(1, 6, 3, 32, 32)
    model.feed_data({'lq': lq, 'gt': gt})
    model.optimize_parameters(1)
    x_t = seen[-1]  # (2 clips, 3 frames, ...)
    same = all(torch.allclose(x_t[:, k], x_t[:, 0]) for k in range(1, 3))
    assert same == (noise == 'shared')


def test_missing_pretrained_weights_name_the_option(root, tmp_path):
    opt = model_options(root)
    opt['path']['pretrain_network_g'] = str(tmp_path / 'nowhere' / 'net_g_latest.pth')
    with pytest.raises(FileNotFoundError, match=r'path\.pretrain_network_g: the weights file .*nowhere.* does not'):
        build_model(opt)
