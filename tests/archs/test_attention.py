import pytest
import torch

from seeclear_arch.archs.attention import (
    ChannelAttention,
    CrossAttention2d,
    WindowAttention,
    WindowAttention3D,
    attend,
)
from seeclear_arch.archs.window import pad_image, pad_to_multiple, window_partition, window_reverse


def naive_attention(q, k, v, mask=None):
    logits = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if mask is not None:
        logits = logits.masked_fill(~mask, float('-inf'))
    return logits.softmax(dim=-1) @ v


@pytest.mark.parametrize('with_mask', [False, True])
def test_attend_matches_naive_softmax(with_mask):
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 8)
    mask = torch.rand(2, 1, 5, 7) > 0.4 if with_mask else None
    if mask is not None:
        mask[..., 0] = True  # every query sees at least one key
    torch.testing.assert_close(attend(q, k, v, mask), naive_attention(q, k, v, mask), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('size', [(1, 4, 4), (3, 9, 13), (2, 5, 7)])
def test_window_partition_round_trip(size):
    x = torch.randn(2, *size, 6)
    window = (2, 4, 4)
    padded, valid = pad_to_multiple(x, window)
    assert valid.sum() == x[..., :1].numel()
    windows = window_partition(padded, window)
    assert windows.shape[1:] == (32, 6)
    torch.testing.assert_close(window_reverse(windows, window, padded.shape[1:4])[:, :size[0], :size[1], :size[2]], x)


def test_pad_image_any_size():
    x = torch.randn(1, 3, 3, 5)
    out, pads = pad_image(x, 8)  # pad larger than the size: falls back to replicate
    assert out.shape[-2:] == (8, 8) and pads == (5, 3)


def test_window_attention_ignores_padding():
    """Padded keys are masked: the output on the real pixels equals attention on an exact-size window."""
    torch.manual_seed(0)
    attn = WindowAttention(8, 2, 8)
    x = torch.randn(1, 8, 5, 6)
    wide = WindowAttention3D(8, 2, (1, 5, 6))
    wide.load_state_dict(attn.state_dict())
    torch.testing.assert_close(attn(x), wide(x[:, None])[:, 0], atol=1e-5, rtol=1e-5)


def test_modules_shapes():
    x = torch.randn(2, 8, 9, 13)
    assert ChannelAttention(8, 2)(x).shape == x.shape
    assert CrossAttention2d(8, 2, 5)(x, torch.randn(2, 3, 5)).shape == x.shape
    assert WindowAttention3D(8, 2, (99, 4, 4))(torch.randn(2, 3, 8, 9, 13)).shape == (2, 3, 8, 9, 13)


def restormer_channel_attention(module: ChannelAttention, x: torch.Tensor) -> torch.Tensor:
    """Restormer's transposed attention as written there: normalise q, k over pixels, softmax(tau q k^T) v per head,
    then the 1x1 output projection."""
    b, ch, h, w = x.shape
    heads = module.num_heads
    q, k, v = module.qkv_dw(module.qkv(x)).reshape(b, 3, heads, ch // heads, h * w).unbind(1)
    q, k = torch.nn.functional.normalize(q, dim=-1), torch.nn.functional.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1) * module.temperature).softmax(dim=-1)
    return module.proj((attn @ v).reshape(b, ch, h, w))


@pytest.mark.parametrize('channels_last', [False, True])
def test_channel_attention_is_restormers_attention_then_projection(channels_last):
    """The folded form (one C x C matrix per frame applied to v) computes attention-then-projection, in either
    memory layout, and hands back the layout it got."""
    torch.manual_seed(0)
    module = ChannelAttention(12, 3)
    with torch.no_grad():
        module.temperature.uniform_(0.5, 2.0)
        x = torch.randn(2, 12, 9, 7)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = module(x)
        torch.testing.assert_close(out, restormer_channel_attention(module, x), atol=1e-5, rtol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
