#!/usr/bin/env python3
"""Writes pic_tf/assets/cifar10_test: the first CIFAR-10 test images, bundled for offline use.

  python testdata/make_cifar10_bundle.py --data_dir=../shared/data/tensorflow_datasets

Takes the first ``--num_images`` images of tensorflow-datasets' ``cifar10`` test split
(in the prepared directory's on-disk order, which ``bin/colorize --dataset=cifar10``
reads too) and writes each as a lossless PNG ``NNNNN.png`` with ``index.tsv`` naming
its tfds id and class. ``bin/colorize --dataset=cifar10_bundled`` reads them, so the
README's first command runs with no download. CIFAR-10: Krizhevsky, "Learning Multiple
Layers of Features from Tiny Images", 2009.
"""

import argparse
import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'pic_tf',
                   'assets', 'cifar10_test')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default=None, help='tensorflow-datasets directory')
  parser.add_argument('--num_images', type=int, default=64)
  args = parser.parse_args()
  builder = tfds.builder('cifar10', data_dir=args.data_dir)
  names = builder.info.features['label'].names
  ds = builder.as_dataset(split='test', shuffle_files=False).take(args.num_images)
  os.makedirs(OUT, exist_ok=True)
  rows = ['file\ttfds_id\tclass']
  for i, example in enumerate(tfds.as_numpy(ds)):
    name = f'{i:05d}.png'
    Image.fromarray(np.asarray(example['image'])).save(os.path.join(OUT, name), optimize=True)
    rows.append(f'{name}\t{example["id"].decode()}\t{names[example["label"]]}')
  with open(os.path.join(OUT, 'index.tsv'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(rows) + '\n')
  print(f'wrote {len(rows) - 1} images to {OUT}')


if __name__ == '__main__':
  main()
