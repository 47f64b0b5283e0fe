#!/usr/bin/env python3
"""Writes the synthetic test images of this folder (run from anywhere; needs Pillow).

  python testdata/make_testdata.py

Every file is made here from code: a small synthetic outdoor scene (sky, sun,
grass, a red house) in the formats photos come in, plus broken files.
"""

import io
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def scene(width=500, height=375, seed=0):
  """uint8 [height, width, 3]: blue sky gradient, yellow sun, green grass, red house."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  horizon = 0.62 * height
  sky = np.stack([90 + 80 * y / horizon, 150 + 60 * y / horizon, 255 - 20 * y / horizon], -1)
  grass = np.stack([40 + 30 * (y - horizon) / height, 150 - 40 * (y - horizon) / height,
                    40 + 0 * y], -1)
  image = np.where((y < horizon)[..., None], sky, grass)
  sun = (x - 0.8 * width) ** 2 + (y - 0.2 * height) ** 2 < (0.08 * width) ** 2
  image[sun] = [255, 220, 60]
  house = (np.abs(x - 0.3 * width) < 0.1 * width) & (y > 0.45 * height) & (y < horizon + 10)
  image[house] = [180, 40, 30]
  image += rng.normal(0, 2, size=image.shape)
  return np.clip(image, 0, 255).astype(np.uint8)


def main():
  rgb = scene()
  Image.fromarray(rgb).save(os.path.join(HERE, 'scene.png'))
  Image.fromarray(rgb).save(os.path.join(HERE, 'scene_500x375.jpg'), quality=90)
  gray = Image.fromarray(rgb).convert('L')
  gray.save(os.path.join(HERE, 'gray.png'))
  gray16 = (np.asarray(gray, np.uint16) * 257).astype(np.uint16)
  Image.fromarray(gray16).save(os.path.join(HERE, 'gray16.png'))
  rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 200, np.uint8)], -1)
  rgba[:40, :40, 3] = 0
  Image.fromarray(rgba, 'RGBA').save(os.path.join(HERE, 'rgba.png'))
  Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE, colors=32).save(
      os.path.join(HERE, 'palette.png'))
  Image.fromarray(rgb).convert('CMYK').save(os.path.join(HERE, 'cmyk.jpg'), quality=90)
  # Stored sideways (375 wide, 500 tall) with EXIF orientation 6 (rotate 90 degrees
  # clockwise to display): upright it is the 500x375 scene.
  stored = Image.fromarray(np.rot90(rgb, k=1).copy())
  exif = Image.Exif()
  exif[0x0112] = 6
  stored.save(os.path.join(HERE, 'exif_rotated.jpg'), quality=90, exif=exif.tobytes())
  Image.fromarray(scene(6, 4, seed=1)).save(os.path.join(HERE, 'tiny_6x4.png'))
  buffer = io.BytesIO()
  Image.fromarray(rgb).save(buffer, format='JPEG', quality=90)
  with open(os.path.join(HERE, 'truncated.jpg'), 'wb') as f:
    f.write(buffer.getvalue()[:len(buffer.getvalue()) // 3])
  with open(os.path.join(HERE, 'not_an_image.png'), 'w') as f:
    f.write('this file is text, not a PNG\n')


if __name__ == '__main__':
  main()
