"""Semantic Distiller backends (Sec. 3.2, Eqs. 8-9) and the shared top-k query selection. CPU, tiny configs."""
import copy
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from basicsr.archs import build_network
from torch import nn

from seeclear_arch.archs import semantic_distiller_arch as sd
from seeclear_arch.archs.distiller_base import SemanticDistiller
from seeclear_arch.archs.distiller_utils import (
    scores_from_class_logits,
    scores_from_text_similarity,
    select_topk_queries,
    working_size,
)
from tests.helpers import TINY_M2F, clip_inputs, tiny_opt


def _check_outputs(net: SemanticDistiller, frames: torch.Tensor, stride: int) -> None:
    tokens, seg = net(frames)
    n, _, h, w = frames.shape
    assert tokens.shape == (n, net.num_tokens, net.token_dim)
    assert seg.shape == (n, net.seg_dim, math.ceil(h / stride), math.ceil(w / stride))
    assert tokens.dtype == seg.dtype == frames.dtype
    assert torch.isfinite(tokens).all() and torch.isfinite(seg).all()


def _check_frozen(net: SemanticDistiller) -> None:
    assert not net.trainable
    assert not any(p.requires_grad for p in net.parameters())
    nn.Sequential(net).train()  # a parent switching to train mode must not unfreeze BatchNorm/Dropout
    assert not any(m.training for m in net.modules())


# ---------------------------------------------------------------- shared selection (Eq. 9 top_k)

def test_select_topk_picks_highest_in_order():
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.7], [0.5, 0.2, 0.8, 0.0]])
    queries = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)
    tokens, idx = select_topk_queries(scores, queries, 3)
    assert idx.tolist() == [[1, 3, 2], [2, 0, 1]]
    assert torch.equal(tokens, torch.stack([queries[b, idx[b]] for b in range(2)]))


def test_select_topk_ties_lower_index_first_and_k_checked():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.9, 0.5]])
    _, idx = select_topk_queries(scores, torch.randn(1, 5, 2), 4)
    assert idx.tolist() == [[1, 3, 0, 2]]
    with pytest.raises(ValueError, match='k=6'):
        select_topk_queries(scores, torch.randn(1, 5, 2), 6)
    with pytest.raises(ValueError, match='expected scores'):
        select_topk_queries(scores, torch.randn(1, 4, 2), 2)


def test_scores_from_class_logits_ignores_no_object():
    logits = torch.tensor([[[0.0, 0.0, 10.0], [2.0, 0.0, 0.0]]])  # query 0 is "no object"
    scores = scores_from_class_logits(logits)
    probs = logits.softmax(-1)
    assert torch.allclose(scores, probs[..., :-1].max(-1).values)
    assert scores[0, 1] > scores[0, 0]
    assert torch.allclose(scores_from_class_logits(logits, has_no_object=False), probs.max(-1).values)


def test_scores_from_text_similarity_is_max_cosine():
    text = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    queries = torch.tensor([[[3.0, 0.0], [1.0, 1.0], [0.0, -1.0]]])
    scores = scores_from_text_similarity(queries, text)
    assert torch.allclose(scores, torch.tensor([[1.0, 2 ** -0.5, 0.0]]), atol=1e-6)


# ---------------------------------------------------------------- light learned encoder

@pytest.mark.parametrize('seg_stride', [2, 4])
def test_light_distiller_shapes(seg_stride):
    net = sd.SeeClearLightDistiller(num_feat=8, seg_dim=6, token_dim=16, num_tokens=3, num_queries=5, num_heads=2,
                                    seg_stride=seg_stride, pool_size=4)
    assert net.seg_stride == seg_stride and net.trainable
    _check_outputs(net, torch.rand(2, 3, 20, 27), seg_stride)


def test_light_distiller_gradients_reach_all_params():
    net = sd.SeeClearLightDistiller(num_feat=8, seg_dim=6, token_dim=16, num_tokens=3, num_queries=5, num_heads=2)
    net.train()
    assert net.training
    tokens, seg = net(torch.rand(2, 3, 16, 16))
    ((tokens * torch.randn_like(tokens)).sum() + (seg * torch.randn_like(seg)).sum()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_light_distiller_rejects_bad_options():
    with pytest.raises(ValueError, match='num_tokens'):
        sd.SeeClearLightDistiller(num_tokens=9, num_queries=8)
    with pytest.raises(ValueError, match='seg_stride'):
        sd.SeeClearLightDistiller(seg_stride=8)


# ---------------------------------------------------------------- Mask2Former (transformers)

def test_mask2former_tiny_random_config_offline():
    net = sd.SeeClearMask2FormerDistiller(num_tokens=4, config=TINY_M2F, input_size=None)
    assert (net.num_tokens, net.token_dim, net.seg_dim, net.seg_stride) == (4, 32, 24, 4)
    _check_frozen(net)
    _check_outputs(net, torch.rand(2, 3, 37, 50), 4)


def _expanded_weight_matmuls(net: SemanticDistiller, frames: torch.Tensor, dim: int) -> list:
    """Input shapes of the batched matmuls that multiply each pixel row (the N frames' features at one pixel) by a
    (dim x dim) weight repeated per pixel."""
    with torch.profiler.profile(record_shapes=True) as prof, torch.autocast('cpu', dtype=torch.bfloat16):
        net(frames)
    return [e.input_shapes for e in prof.events() if e.name == 'aten::bmm' and len(e.input_shapes[1]) == 3
            and e.input_shapes[0][1] == frames.shape[0] and e.input_shapes[1][1:] == [dim, dim]]


def test_mask2former_cross_attention_projects_pixel_features_in_one_matmul():
    """The decoder's key/value projections of the (permuted) pixel features are single matmuls, not a matmul per
    pixel row with an expanded weight, and give the stock module's output."""
    torch.manual_seed(0)
    net = sd.SeeClearMask2FormerDistiller(num_tokens=3, config=TINY_M2F, input_size=None)
    stock = copy.deepcopy(net)
    swapped = [m for m in stock.modules() if type(m) is sd.ContiguousKeyValueAttention]
    assert swapped and not any(type(m) is nn.MultiheadAttention for m in net.modules())
    for module in swapped:
        module.__class__ = nn.MultiheadAttention
    frames = torch.rand(2, 3, 64, 64)
    assert _expanded_weight_matmuls(stock, frames, TINY_M2F['hidden_dim'])  # the stock path expands the weight
    assert not _expanded_weight_matmuls(net, frames, TINY_M2F['hidden_dim'])
    for ours, theirs in zip(net(frames), stock(frames)):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_mask2former_tokens_are_top_scoring_queries():
    net = sd.SeeClearMask2FormerDistiller(num_tokens=3, config=TINY_M2F, input_size=None)
    frames = torch.rand(1, 3, 48, 40)
    tokens, _ = net(frames)
    with torch.no_grad():
        out = net.model.model(pixel_values=(frames - net.mean) / net.std, output_hidden_states=True)
        queries = out.transformer_decoder_intermediate_states[-1].transpose(0, 1)
        scores = net.model.class_predictor(queries).softmax(-1)[..., :-1].max(-1).values
    best = scores[0].argsort(descending=True)[:3]
    assert torch.allclose(tokens[0], queries[0, best], atol=1e-5)


@pytest.mark.parametrize('lr_size, working', [((20, 20), (512, 512)), ((45, 61), (512, 704)), ((64, 64), (512, 512)),
                                               ((7, 13), (512, 960)), ((180, 320), (512, 896))])
def test_default_working_size_keeps_the_aspect_in_multiples_of_32(lr_size, working):
    assert working_size(lr_size, sd.DEFAULT_WORKING_SIZE) == working
    assert working_size(lr_size, None) == lr_size and working_size(lr_size, (48, 40)) == (48, 40)


def test_pretrained_distiller_seg_features_map_onto_the_level_grid_for_odd_lr_sizes():
    """Mask2Former at a working size (short side 64 here, to stay fast) inside SeeClearNet, odd LR sizes."""
    opt = tiny_opt(distiller=dict(type='SeeClearMask2FormerDistiller', num_tokens=3, config=TINY_M2F,
                                  input_size=64))
    net = build_network(opt).eval()
    for h, w in ((9, 13), (7, 11)):
        x_t, y, lq, t = clip_inputs(m=2, h=h, w=w)
        with torch.no_grad():
            _, seg = net.distiller(lq.flatten(0, 1))
            out = net(x_t, y, lq, t)
        assert seg.shape[-2:] == tuple(s // 4 for s in working_size((h, w), 64))  # working size / seg_stride
        assert out.shape == y.shape and torch.isfinite(out).all()


def test_mask2former_input_size_resizes():
    net = sd.SeeClearMask2FormerDistiller(num_tokens=2, config=TINY_M2F, input_size=(48, 40))
    tokens, seg = net(torch.rand(1, 3, 20, 20))
    assert seg.shape == (1, 24, 12, 10) and tokens.shape == (1, 2, 32)


def test_mask2former_loads_local_pretrained_folder_offline(tmp_path):
    saved = sd.SeeClearMask2FormerDistiller(num_tokens=2, config=TINY_M2F, input_size=None)
    saved.model.save_pretrained(str(tmp_path / 'm2f'))
    net = sd.SeeClearMask2FormerDistiller(num_tokens=2, pretrained_path=str(tmp_path / 'm2f'), input_size=None)
    frames = torch.rand(1, 3, 40, 40)
    for a, b in zip(net(frames), saved(frames)):
        assert torch.allclose(a, b)


def test_mask2former_missing_weights_name_path_and_howto(tmp_path):
    missing = tmp_path / 'no_such_mask2former'
    with pytest.raises(FileNotFoundError) as err:
        sd.SeeClearMask2FormerDistiller(pretrained_path=str(missing))
    assert str(missing) in str(err.value) and 'huggingface-cli download' in str(err.value)
    with pytest.raises(FileNotFoundError, match='seeclear-test/not-cached'):
        sd.SeeClearMask2FormerDistiller(model_id='seeclear-test/not-cached', cache_dir=str(tmp_path))


def test_mask2former_rejects_bad_options():
    with pytest.raises(ValueError, match='exactly one'):
        sd.SeeClearMask2FormerDistiller(config=TINY_M2F, model_id='x/y')
    with pytest.raises(ValueError, match='num_tokens'):
        sd.SeeClearMask2FormerDistiller(num_tokens=11, config=TINY_M2F)


# ---------------------------------------------------------------- OpenSeeD (not installable here)

def test_openseed_missing_gives_install_message(tmp_path):
    with pytest.raises(ImportError) as err:
        sd.SeeClearOpenSeeDDistiller(config_path=str(tmp_path / 'c.yaml'), weights_path=str(tmp_path / 'w.pt'),
                                     openseed_root=str(tmp_path))
    msg = str(err.value)
    assert 'detectron2' in msg and 'git clone https://github.com/IDEA-Research/OpenSeeD' in msg
    assert 'SeeClearMask2FormerDistiller' in msg


class _FakeOpenSeeD(nn.Module):
    """Stand-in with OpenSeeD's attribute layout (backbone, sem_seg_head.pixel_decoder/predictor,
    lang_encoder), so the wrapping logic runs without detectron2."""

    def __init__(self, num_queries: int = 6, dim: int = 8, mask_dim: int = 5, text_dim: int = 4):
        super().__init__()
        self.register_buffer('pixel_mean', torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1), False)
        self.register_buffer('pixel_std', torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1), False)
        self.size_divisibility = 32
        self.backbone = lambda x: {'res2': F.avg_pool2d(x, 4)}
        decoder = SimpleNamespace(forward_features=lambda f, m: (f['res2'][:, :1].repeat(1, mask_dim, 1, 1), None,
                                                                 [f['res2']]))
        lang = SimpleNamespace(get_text_embeddings=lambda names, is_eval: setattr(
            lang, 'default_text_embeddings', torch.randn(len(names), text_dim)))
        self.predictor = nn.Module()
        self.predictor.decoder_norm = nn.LayerNorm(dim)
        self.predictor.class_embed = nn.Parameter(torch.randn(dim, text_dim))
        self.predictor.queries = nn.Parameter(torch.randn(num_queries, 1, dim))
        self.predictor.lang_encoder = lang
        self.predictor.forward = self._predict
        self.sem_seg_head = SimpleNamespace(pixel_decoder=decoder, predictor=self.predictor)

    def _predict(self, multi_scale, mask_features, masks):
        pooled = multi_scale[0].mean((1, 2, 3))[None, :, None]  # (1, N, 1)
        self.predictor.decoder_norm(torch.zeros(3, pooled.shape[1], self.predictor.queries.shape[-1]))  # proposals
        self.predictor.decoder_norm(self.predictor.queries + pooled)  # last layer, (Q, N, d)
        return {}, None


def _fake_openseed_api(net: nn.Module) -> SimpleNamespace:
    opt = {'MODEL': {'DECODER': {'HIDDEN_DIM': 8, 'NUM_OBJECT_QUERIES': 6},
                     'ENCODER': {'MASK_DIM': 5, 'COMMON_STRIDE': 4}}}

    def base_model(opt: dict, module: nn.Module) -> SimpleNamespace:  # OpenSeeD's BaseModel(opt, module)
        return SimpleNamespace(from_pretrained=lambda path: SimpleNamespace(model=module))

    return SimpleNamespace(build_model=lambda opt: net, BaseModel=base_model, load_opt=lambda path: opt)


def test_openseed_wrapping_with_stand_in(tmp_path, monkeypatch):
    fake = _FakeOpenSeeD()
    monkeypatch.setattr(sd, '_import_openseed', lambda root: _fake_openseed_api(fake))
    (tmp_path / 'c.yaml').write_text('x: 1')
    (tmp_path / 'w.pt').write_bytes(b'')
    net = sd.SeeClearOpenSeeDDistiller(str(tmp_path / 'c.yaml'), str(tmp_path / 'w.pt'), num_tokens=3,
                                       vocabulary=['car', 'sky'], input_size=None)
    assert (net.num_tokens, net.token_dim, net.seg_dim, net.seg_stride) == (3, 8, 5, 4)
    _check_frozen(net)
    frames = torch.rand(2, 3, 21, 30)
    _check_outputs(net, frames, 4)
    tokens, _ = net(frames)
    pred = fake.predictor
    x = F.pad((frames * 255 - fake.pixel_mean) / fake.pixel_std, (0, 2, 0, 11))
    queries = pred.decoder_norm(pred.queries + F.avg_pool2d(x, 4).mean((1, 2, 3))[None, :, None]).transpose(0, 1)
    sim = F.normalize(queries @ pred.class_embed, dim=-1) @ F.normalize(pred.lang_encoder.default_text_embeddings,
                                                                        dim=-1).t()
    best = sim.max(-1).values.argsort(dim=1, descending=True)[:, :3]
    assert torch.allclose(tokens, torch.stack([queries[b, best[b]] for b in range(2)]), atol=1e-6)


def test_openseed_missing_files(tmp_path, monkeypatch):
    monkeypatch.setattr(sd, '_import_openseed', lambda root: _fake_openseed_api(_FakeOpenSeeD()))
    with pytest.raises(FileNotFoundError, match='config_path'):
        sd.SeeClearOpenSeeDDistiller(str(tmp_path / 'none.yaml'), str(tmp_path / 'none.pt'))


# ---------------------------------------------------------------- registry

@pytest.mark.parametrize('opt', [
    {'type': 'SeeClearLightDistiller', 'num_feat': 8, 'seg_dim': 8, 'token_dim': 16, 'num_tokens': 2,
     'num_queries': 4, 'num_heads': 2},
    {'type': 'SeeClearMask2FormerDistiller', 'num_tokens': 2, 'config': TINY_M2F},
])
def test_build_network_from_yml_dict(opt):
    net = build_network(dict(opt))
    assert isinstance(net, SemanticDistiller) and type(net).__name__ == opt['type']
    tokens, seg = net(torch.rand(1, 3, 40, 40))  # tiny M2F GroupNorm needs > 1x1 at stride 32
    assert tokens.shape == (1, 2, net.token_dim) and seg.shape[:2] == (1, net.seg_dim)


def test_build_network_openseed_registered(tmp_path):
    with pytest.raises(ImportError, match='OpenSeeD'):
        build_network({'type': 'SeeClearOpenSeeDDistiller', 'config_path': 'c.yaml', 'weights_path': 'w.pt',
                       'openseed_root': str(tmp_path)})
