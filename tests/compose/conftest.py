"""Generated scenes for the compose tests: random images, a red/green band with a soft edge, a hairy person."""

import cv2
import numpy as np

RED, GREEN, BLUE = np.array([255, 0, 0.0]), np.array([0, 255, 0.0]), np.array([0, 0, 255.0])


def random_image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def band_scene(size=256, band=6):
    """Red foreground on the left, green background on the right, alpha 0.5 in a vertical band between."""
    alpha = np.zeros((size, size), np.float32)
    alpha[:, :size // 2] = 1.0
    alpha[:, size // 2 - band // 2:size // 2 + band // 2] = 0.5
    a = alpha[..., None]
    image = np.rint(a * RED + (1 - a) * GREEN).astype(np.uint8)
    return image, alpha


def lowres_of(image, alpha, size):
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)


def hairy_scene(h=240, w=320, seed=0):
    """Textured person over a textured background with a noisy, hair-like soft edge: (image, alpha, F, B)."""
    rng = np.random.default_rng(seed)

    def texture(colour, cell):
        noise = rng.normal(0, 1, (h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        noise = cv2.resize(noise, (w + 2 * cell, h + 2 * cell), interpolation=cv2.INTER_CUBIC)[:h, :w]
        return np.clip(np.float32(colour) + 40 * noise, 0, 255)

    fg, bg = texture((200, 150, 120), 4), texture((60, 110, 170), 16)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w / 2) / (0.23 * w)) ** 2 + ((yy - 0.6 * h) / (0.42 * h)) ** 2)
    hair = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.0) - 0.5
    alpha = np.clip((1 - r) * 20 + hair * 60 * (np.abs(1 - r) < 0.15), 0, 1).astype(np.float32)
    a = alpha[..., None]
    return np.clip(a * fg + (1 - a) * bg + 0.5, 0, 255).astype(np.uint8), alpha, fg, bg
