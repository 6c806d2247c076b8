"""g_t, g_c, g_f sizes (App. A.2/A.3), reference attention, UNet widening, tiny tokenizer."""

from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from training.models.codec import PixelCodec, decode_latents, encode_images
from training.models.learned_encoders import FeatureEncoder, NextClipGenerator, TimeEncoder, positional_encoding
from training.models.loading import set_conv_in
from training.models.presets import build_tiny_tokenizer, tiny_unet_config
from training.models.reference_attention import install_reference_attention


def _linear_dims(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_time_encoder_is_21_256_512_768_with_relu_except_last():
    enc = TimeEncoder()
    assert _linear_dims(enc) == [(21, 256), (256, 512), (512, 768)]
    assert isinstance(enc.mlp[-1], nn.Linear) and sum(isinstance(m, nn.ReLU) for m in enc.mlp) == 2
    out = enc(torch.tensor([5.0, 20.0]))
    assert out.shape == (2, 768)
    assert not torch.allclose(out[0], out[1])  # different Δt, different token


def test_positional_encoding_matches_nerf():
    p = torch.tensor([0.25])
    enc = positional_encoding(p, 10)
    assert enc.shape == (1, 21)
    assert torch.isclose(enc[0, 0], p[0])
    assert torch.isclose(enc[0, 1], torch.sin(torch.tensor(torch.pi * 0.25)))
    assert torch.isclose(enc[0, 11 + 3], torch.cos(torch.tensor(8 * torch.pi * 0.25)), atol=1e-6)


def test_next_clip_generator_is_1536_768_384_768():
    gen = NextClipGenerator()
    assert _linear_dims(gen) == [(1536, 768), (768, 384), (384, 768)]
    assert gen(torch.randn(3, 768), torch.randn(3, 768)).shape == (3, 768)


def test_feature_encoder_has_nine_convs_and_downsamples_by_eight():
    enc = FeatureEncoder()
    assert sum(isinstance(m, nn.Conv2d) for m in enc.modules()) == 9
    assert enc(torch.randn(1, 4, 64, 48)).shape == (1, 16, 8, 6)
    assert FeatureEncoder(num_downsamples=2)(torch.randn(1, 4, 64, 64)).shape == (1, 16, 16, 16)


def test_time_encoder_roundtrips_through_save_pretrained(tmp_path: Path):
    enc = TimeEncoder(out_dim=32, hidden_dims=(16, 16))
    enc.save_pretrained(tmp_path / "t")
    back = TimeEncoder.from_pretrained(tmp_path / "t")
    x = torch.tensor([3.0, 40.0])
    assert torch.equal(enc(x), back(x))


def test_pixel_codec_is_lossless():
    codec = PixelCodec(factor=4)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    z = encode_images(codec, x)
    assert z.shape == (2, 48, 16, 16)
    assert torch.allclose(decode_latents(codec, z), x)


def test_widened_conv_in_keeps_the_pretrained_unet_output():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**tiny_unet_config(12, 12, 8))
    x, cond = torch.randn(1, 12, 8, 8), torch.randn(1, 3, 32)
    t = torch.tensor([10])
    before = unet(x, t, encoder_hidden_states=cond).sample
    set_conv_in(unet, 20)
    assert unet.config.in_channels == 20
    after = unet(torch.cat([x, torch.randn(1, 8, 8, 8)], 1), t, encoder_hidden_states=cond).sample
    assert torch.allclose(before, after, atol=1e-5)


def test_reference_attention_reads_the_reference_net_features():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**tiny_unet_config(12, 12, 8))
    ref = UNet2DConditionModel(**tiny_unet_config(12, 12, 8))
    bank = install_reference_attention(unet, ref)
    cond, t0 = torch.randn(1, 2, 32), torch.tensor([0])
    x = torch.randn(1, 12, 8, 8)

    def run(reference: torch.Tensor) -> torch.Tensor:
        bank.clear()
        ref(reference, t0, encoder_hidden_states=cond)
        assert any(k.endswith("attn1.processor") for k in bank)
        return unet(x, torch.tensor([5]), encoder_hidden_states=cond).sample

    a = torch.randn(1, 12, 8, 8)
    out_a, out_a2, out_b = run(a), run(a), run(torch.randn(1, 12, 8, 8))
    assert torch.equal(out_a, out_a2)
    assert not torch.allclose(out_a, out_b)
    # a batch of guidance branches shares one reference pass
    bank.clear()
    ref(a, t0, encoder_hidden_states=cond)
    out3 = unet(x.repeat(3, 1, 1, 1), torch.tensor([5]), encoder_hidden_states=cond.repeat(3, 1, 1)).sample
    assert torch.allclose(out3[2], out_a[0], atol=1e-5)
    bank.clear()
    try:
        unet(x, torch.tensor([5]), encoder_hidden_states=cond)
    except RuntimeError as err:
        assert "ReferenceNet" in str(err)
    else:
        raise AssertionError("g_u ran without reference features")


def test_tiny_tokenizer_keeps_label_words_whole(tmp_path: Path):
    tok = build_tiny_tokenizer(tmp_path / "tok")
    ids = tok("distant mountains").input_ids
    assert len(ids) == 4 and ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert len(tok("zebra").input_ids) > 3  # unknown words fall back to bytes, never to <unk>
    padded = tok(["sky"], padding="max_length", max_length=77).input_ids
    assert len(padded[0]) == 77
