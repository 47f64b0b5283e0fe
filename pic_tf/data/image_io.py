"""Image files for the command-line tools (Pillow): robust reading, atomic PNG writing.

Reading accepts what photos come as: JPEG (also CMYK, and EXIF-rotated: the pixels
are turned upright), PNG in any mode (grayscale, 16-bit, palette, with alpha), BMP,
GIF (first frame), TIFF, WebP. bin/colorize and training on a folder read photos
through :func:`read_image` alike; the model and SavedModel paths do not use this
module, they stay pure TensorFlow.
"""

import glob
import io
import os
import stat
import warnings

import numpy as np
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

from pic_tf.errors import ImageError

# What read_image reads: the photos of a folder, for colourising and for training.
EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp')
# Larger images are refused before they are decoded (a header can claim 10^10 pixels):
# Pillow's own decompression-bomb limit, ~90 megapixels, made an error.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS


def read_image(path):
  """Reads an image file as uint8.

  Args:
    path: file path.

  Returns:
    ``(image, is_color)``: uint8 ``[H, W, 3]`` (gray files are replicated to three
    channels) and whether the file holds colour (False for gray files and for colour
    files whose three channels are equal). 16-bit gray images are scaled from
    0..65535 and float ones from [0, 1].

  Raises:
    ImageError: a missing, unreadable, truncated or empty image, or a 16-bit or float
      one with values outside its range.
  """
  try:
    mode = os.stat(path).st_mode
  except FileNotFoundError:
    raise ImageError(f'{path}: no such file') from None
  except OSError as e:
    raise ImageError(f'{path}: cannot read it ({e.strerror})') from None
  if stat.S_ISDIR(mode):
    raise ImageError(f'{path}: is a folder (give the folder itself as an input to read its images)')
  if not stat.S_ISREG(mode):
    # A FIFO or device would block or never end.
    raise ImageError(f'{path}: not a regular file')
  try:
    with open(path, 'rb') as f, warnings.catch_warnings():
      warnings.simplefilter('error', Image.DecompressionBombWarning)
      with Image.open(f) as im:
        if im.width * im.height > MAX_PIXELS:
          raise Image.DecompressionBombError(f'{im.width}x{im.height}')
        im.seek(0)
        im.load()   # decodes fully: truncated files fail here
        im = ImageOps.exif_transpose(im)
        image = _to_rgb(im)
  except (Image.DecompressionBombError, Image.DecompressionBombWarning):
    raise ImageError(f'{path}: its header claims {_size_of(path)} pixels, more than the '
                     f'{MAX_PIXELS / 1e6:.0f} megapixels pic_tf reads (a damaged file or a '
                     'decompression bomb); downscale it first if it is a real photo') from None
  except UnidentifiedImageError:
    raise ImageError(f'{path}: not an image file (or a format Pillow cannot read)') from None
  except PermissionError as e:
    raise ImageError(f'{path}: cannot read it ({e.strerror})') from None
  except _ValuesOutOfRange as e:
    raise ImageError(f'{path}: {e}') from None
  except (OSError, SyntaxError, ValueError, EOFError) as e:
    raise ImageError(f'{path}: cannot decode the image ({e}); the file is damaged or '
                     'truncated') from None
  if image.shape[0] == 0 or image.shape[1] == 0:
    raise ImageError(f'{path}: the image is empty')
  is_color = not (np.array_equal(image[..., 0], image[..., 1]) and
                  np.array_equal(image[..., 0], image[..., 2]))
  return image, is_color


# What TensorFlow's decoders read exactly as read_image does: 8-bit RGB or gray JPEG,
# PNG and BMP without transparency, upright. The rest (TIFF, WebP, GIF, CMYK, 16-bit,
# palette, alpha, EXIF-rotated) needs Pillow.
TENSORFLOW_FORMATS = ('JPEG', 'PNG', 'BMP')
_EXIF_ORIENTATION = 0x0112


def tensorflow_decodes(path):
  """Whether ``tf.io.decode_image(..., channels=3)`` reads ``path`` as :func:`read_image`
  does (from its header; False for anything it cannot tell)."""
  try:
    with Image.open(path) as im:
      return (im.format in TENSORFLOW_FORMATS and im.mode in ('RGB', 'L') and
              'transparency' not in im.info and
              im.getexif().get(_EXIF_ORIENTATION, 1) == 1)
  except Exception:  # pylint: disable=broad-except
    return False


def _size_of(path):
  """``'WxH'`` as the file's header claims, without decoding it."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
      try:
        with Image.open(path) as im:
          return f'{im.width}x{im.height}'
      finally:
        Image.MAX_IMAGE_PIXELS = saved
  except Exception:  # pylint: disable=broad-except
    return 'too many'


class _ValuesOutOfRange(ValueError):
  """A high-bit-depth image whose values are outside the range it is read as."""


def _gray_levels(im):
  """A one-channel image of more than 8 bits -> uint8 gray levels ``[H, W]``.

  16-bit and 32-bit integer images are read as 16-bit (0..65535, what PNG and TIFF
  hold); float images as [0, 1] (what scientific and HDR exports hold). Values outside
  those ranges are refused rather than guessed.
  """
  values = np.asarray(im, dtype=np.float64)
  finite = values[np.isfinite(values)]
  low, high = (finite.min(), finite.max()) if finite.size else (np.nan, np.nan)
  top = 1.0 if im.mode == 'F' else 65535.0
  if finite.size < values.size or not 0 <= low <= high <= top:
    kind = 'float' if im.mode == 'F' else 'integer'
    raise _ValuesOutOfRange(
        f'its {kind} values span [{low:g}, {high:g}] (mode {im.mode}), outside the '
        f'[0, {top:g}] pic_tf reads {kind} images as; convert it to an 8- or 16-bit '
        'image first')
  return np.round(values / top * 255.0).astype(np.uint8)


def _to_rgb(im):
  """A Pillow image of any mode -> uint8 RGB ``[H, W, 3]`` (alpha over white).

  Raises:
    _ValuesOutOfRange: a 16-bit, 32-bit or float image with values outside its range.
  """
  if im.mode in ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F'):
    return np.repeat(_gray_levels(im)[..., None], 3, axis=-1)
  if im.mode == 'P':
    im = im.convert('RGBA')
  if im.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La'):
    im = im.convert('RGBA')
    background = Image.new('RGBA', im.size, (255, 255, 255, 255))
    im = Image.alpha_composite(background, im)
  if im.mode != 'RGB':
    im = im.convert('RGB')   # L, 1, CMYK, YCbCr, LAB, HSV, I;16 handled above
  return np.asarray(im, dtype=np.uint8).copy()


def images_under(folder):
  """The image files (:data:`EXTENSIONS`) under ``folder``, recursively, sorted."""
  return sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                for name in names if name.lower().endswith(EXTENSIONS))


def expand_inputs(patterns):
  """Files named by ``patterns``: paths, globs, or folders (searched recursively).

  Returns:
    ``(files, problems)``: sorted unique files, and one message per pattern that
    matched nothing.
  """
  files, problems = [], []
  for pattern in patterns:
    if os.path.isdir(pattern):
      found = images_under(pattern)
      if not found:
        problems.append(f'{pattern}: folder holds no images ({", ".join(EXTENSIONS)})')
    elif any(ch in pattern for ch in '*?['):
      found = sorted(glob.glob(pattern, recursive=True))
      if not found:
        problems.append(f'{pattern}: no file matches')
    else:
      found = [pattern]   # a missing file is reported when read, with the others
    files.extend(found)
  unique = list(dict.fromkeys(files))
  return unique, problems


# Grids people look at show small images (CIFAR-10's 32x32) at least this tall.
GRID_CELL_MIN = 128


def encode_png(image):
  """uint8 ``[H, W, 3]`` -> the bytes of a PNG file."""
  out = io.BytesIO()
  Image.fromarray(np.asarray(image, dtype=np.uint8)).save(out, format='PNG')
  return out.getvalue()


def grid(rows, gap=2, background=255, max_cell_height=None, min_cell_height=None):
  """Tiles images into a grid PNG-ready array.

  Args:
    rows: list of rows, each a list of uint8 ``[H, W, 3]`` images (a row's images
      may differ in size; each row is as tall as its tallest image).
    gap: pixels between cells.
    background: gap colour.
    max_cell_height: downscale cells taller than this (nearest neighbour).
    min_cell_height: enlarge cells shorter than this by the smallest integer factor
      that reaches it (each pixel a square block), e.g. :data:`GRID_CELL_MIN`.

  Returns:
    uint8 ``[H_total, W_total, 3]``.
  """
  def fit(image):
    image = np.asarray(image, np.uint8)
    if max_cell_height and image.shape[0] > max_cell_height:
      step = int(np.ceil(image.shape[0] / max_cell_height))
      image = image[::step, ::step]
    if min_cell_height and image.shape[0] < min_cell_height:
      factor = -(-min_cell_height // image.shape[0])
      image = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
    return image

  rows = [[fit(im) for im in row] for row in rows]
  heights = [max(im.shape[0] for im in row) for row in rows]
  widths = [sum(im.shape[1] for im in row) + gap * (len(row) - 1) for row in rows]
  out = np.full((sum(heights) + gap * (len(rows) - 1), max(widths), 3), background, np.uint8)
  y = 0
  for row, height in zip(rows, heights):
    x = 0
    for im in row:
      out[y:y + im.shape[0], x:x + im.shape[1]] = im
      x += im.shape[1] + gap
    y += height + gap
  return out
