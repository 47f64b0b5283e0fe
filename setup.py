"""pic_tf: Probabilistic Image Colorization (Royer et al., BMVC 2017) in TensorFlow 2 / Keras 3.

Install for CPU:  pip install -e '.[test]'
Install for GPU:  pip install -e '.[gpu,test]'
"""

import re

import setuptools

def long_description():
  """README.md as PyPI shows it, where the repository's own files are not: the picture
  and its caption are left out, and links to the repository's files become their names."""
  with open('README.md', encoding='utf-8') as f:
    text = f.read()
  text = re.sub(r'!\[[^\]]*\]\((?![a-z]+://)[^)]*\)\n\n[^\n]+\n\n', '', text)
  return re.sub(r'\[([^\]]+)\]\((?![a-z]+://)[^)]*\)', r'\1 of the source repository', text)


# The programs (pic_tf/cli/<name>.py), on PATH as pic-tf-<name>.
PROGRAMS = ('train', 'eval', 'colorize', 'export', 'convert_original', 'benchmark')

setuptools.setup(
    name='pic_tf',
    version='0.1.0',
    description='Probabilistic Image Colorization (PIC) in TensorFlow 2 / Keras 3',
    long_description=long_description(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    license_files=['pic_tf/LICENSE'],
    classifiers=[
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.9',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    packages=setuptools.find_packages(include=['pic_tf', 'pic_tf.*']),
    include_package_data=True,
    package_data={'pic_tf': ['assets/*/*', 'LICENSE']},
    python_requires='>=3.9',
    entry_points={'console_scripts': [
        f'pic-tf-{name.replace("_", "-")}=pic_tf.cli.{name}:run' for name in PROGRAMS]},
    install_requires=[
        'tensorflow>=2.16',          # with Keras 3
        'keras>=3.0',
        'tensorflow-probability>=0.24',
        'tf-keras>=2.16',            # tensorflow-probability refuses to import without it
        'tensorflow-datasets>=4.9',
        # tensorflow-datasets (4.9.10) imports it on its download path but declares it
        # only for Python < 3.9: without it no dataset can be downloaded.
        'importlib_resources',
        'numpy',
        'absl-py',
        # tf.summary needs it for the training logs; TensorFlow >= 2.20 no longer
        # installs it.
        'tensorboard',
        # Robust image-file I/O in the command-line tools only (EXIF rotation, CMYK,
        # 16-bit and palette PNGs); the model, training and SavedModel stay pure TF.
        'Pillow>=9',
    ],
    extras_require={
        # tensorflow-serving-api: the tests build real TF Serving PredictRequests;
        # setuptools >= 70.1 (bdist_wheel built in): a test builds the wheel offline to
        # check that it ships the demo model; pytest-xdist: the suite runs on every core.
        'test': ['pytest>=7', 'pytest-xdist', 'tensorflow-serving-api', 'setuptools>=70.1'],
        'gpu': ['tensorflow[and-cuda]>=2.16'],
    },
)
