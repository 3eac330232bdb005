"""Seeded inputs for the corpus models: images (0-255 or normalised), padded token ids and
waveforms."""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)


def image(size: int, *, pixels: bool = False, seed: int = 0, batch: int = 1) -> np.ndarray:
    """A smooth seeded RGB image ``(batch, 3, size, size)`` float32.

    ``pixels=True`` gives raw values in 0..255 (activations reach the hundreds, as when a
    model is fed an unnormalised image); otherwise ImageNet-normalised values.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(batch, 3, 4, 4))
    grid = np.linspace(0, 3, size)
    low, frac = np.floor(grid).astype(int), grid - np.floor(grid)
    high = np.minimum(low + 1, 3)
    rows = coarse[:, :, low] * (1 - frac)[:, None] + coarse[:, :, high] * frac[:, None]
    smooth = rows[..., low] * (1 - frac) + rows[..., high] * frac
    noisy = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255)
    values = np.round(noisy).astype(np.float32)
    if pixels:
        return values
    return ((values / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def tokens(length: int, vocab: int, *, padding: int | None = None, seed: int = 0,
           batch: int = 1) -> dict[str, np.ndarray]:
    """int64 ``input_ids`` in ``[1, vocab)`` and an int64 ``attention_mask`` whose last
    ``padding`` positions (a quarter by default) are 0, with id 0 (the pad token) there."""
    rng = np.random.default_rng(seed)
    padding = length // 4 if padding is None else padding
    ids = rng.integers(1, vocab, size=(batch, length), dtype=np.int64)
    mask = np.ones((batch, length), np.int64)
    if padding:
        mask[:, -padding:] = 0
        ids[:, -padding:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def audio(samples: int, *, seed: int = 0, batch: int = 1) -> np.ndarray:
    """A seeded waveform ``(batch, samples)`` float32: two tones and noise, unit variance
    (what a speech model's feature extractor hands it)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000.0
    wave = np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 1375 * t)
    wave = wave + 0.3 * rng.standard_normal((batch, samples))
    return ((wave - wave.mean()) / wave.std()).astype(np.float32)
