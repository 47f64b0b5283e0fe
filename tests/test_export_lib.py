"""SavedModel export: self-contained, stateless, TF Serving shaped, guarded against bad requests."""

import base64
import dataclasses
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pic_tf import colorize_lib
from pic_tf import configs
from pic_tf import export_lib
from pic_tf import sampling
from pic_tf.model import networks
from pic_tf.storage import Source
from pic_tf.sampling import SampleOptions
from pic_tf.sampling import pipeline
from pic_tf.storage import loading
from pic_tf.storage import original_checkpoints
from pic_tf.storage import workdir as workdir_lib

import helpers

REPO = pathlib.Path(__file__).resolve().parents[1]
SCENE = REPO / 'testdata' / 'tiny_6x4.png'


def _random_model(seed=0):
  model, ema = networks.build_model_and_ema(configs.tiny())
  helpers.randomize(model, seed)
  ema.reset()
  return model, ema


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  base = tmp_path_factory.mktemp('export')
  workdir = base / 'workdir'
  model, ema = _random_model()
  workdir_lib.save_new_workdir(str(workdir), configs.tiny(), model, ema)
  result = subprocess.run([sys.executable, str(REPO / 'bin' / 'export'),
                           f'--checkpoint={workdir}', f'--export_dir={base / "serving"}'],
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return {'dir': base / 'serving' / '1', 'base': base / 'serving', 'model': model,
          'workdir': workdir}


def _image():
  return np.asarray(Image.open(SCENE).convert('RGB'))[None]       # [1, 4, 6, 3]


_FRESH = textwrap.dedent('''
    import json, sys
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    images = np.load(sys.argv[2])
    out = loaded.signatures['serving_default'](
        images=tf.constant(images), num_samples=tf.constant(3, tf.int32),
        temperature=tf.constant(0.8), seed=tf.constant([11, 12], tf.int64))
    np.save(sys.argv[3], out['colorizations'].numpy())
    print(json.dumps({'pic_tf_imported': any(m.startswith('pic_tf') for m in sys.modules)}))
''')


def test_fresh_process_without_pic_tf_matches_the_in_process_sampler(exported, tmp_path):
  images = np.concatenate([_image(), _image()[:, ::-1]], 0)
  np.save(tmp_path / 'in.npy', images)
  result = subprocess.run([sys.executable, '-c', _FRESH, str(exported['dir']),
                           str(tmp_path / 'in.npy'), str(tmp_path / 'out.npy')],
                          capture_output=True, text=True, check=False, cwd=str(tmp_path),
                          env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'})
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout.strip().splitlines()[-1]) == {'pic_tf_imported': False}
  served = np.load(tmp_path / 'out.npy')
  model = exported['model']
  expected = pipeline.Colorizer(model).colorize(images, 3, 0.8,
                                                 tf.constant([11, 12], tf.int64)).numpy()
  assert served.shape == (2, 3, 4, 6, 3) and served.dtype == np.uint8
  np.testing.assert_array_equal(served, expected)


_FRESH_ENCODED = textwrap.dedent('''
    import json, sys
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    photos = [open(path, 'rb').read() for path in sys.argv[3:]]
    out = loaded.signatures['colorize_encoded'](
        images_bytes=tf.constant(photos), num_samples=tf.constant(2, tf.int32),
        temperature=tf.constant(1.0),
        seed=tf.constant([5, 6], tf.int64))['colorizations_bytes']
    for i, row in enumerate(out.numpy()):
      for k, png in enumerate(row):
        open(f'{sys.argv[2]}/{i}_{k}.png', 'wb').write(png)
    print(json.dumps({'shape': list(out.shape),
                      'pic_tf_imported': any(m.startswith('pic_tf') for m in sys.modules)}))
''')


@pytest.mark.slow   # encodes and samples photos in the graph
def test_encoded_photos_of_different_sizes_in_one_request(exported, tmp_path):
  """The bytes signature, as TF Serving clients call it, in a fresh process without
  pic_tf: two PNG photos of different sizes come back as PNGs of their own sizes, each
  what the uint8 pipeline gives that photo alone (the same samples; the compiled graph
  may round the full-resolution Lab -> RGB step of a rare pixel the other way)."""
  gray = REPO / 'testdata' / 'gray.png'
  result = subprocess.run([sys.executable, '-c', _FRESH_ENCODED, str(exported['dir']),
                           str(tmp_path), str(SCENE), str(gray)],
                          capture_output=True, text=True, check=False, cwd=str(tmp_path),
                          env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'})
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout.strip().splitlines()[-1]) == {'shape': [2, 2],
                                                                 'pic_tf_imported': False}
  colorizer = pipeline.Colorizer(exported['model'])
  for i, path in enumerate((SCENE, gray)):
    photo = np.asarray(Image.open(path).convert('RGB'))
    alone = colorizer.colorize(photo[None], 2, 1.0, tf.constant([5, 6], tf.int64))[0].numpy()
    for k in range(2):
      served = np.asarray(Image.open(tmp_path / f'{i}_{k}.png')).astype(int)
      assert served.shape == photo.shape
      differ = served != alone[k]
      assert np.abs(served - alone[k]).max() <= 1 and differ.mean() < 1e-3, differ.mean()


def test_stateless_same_request_same_answer_and_versions(exported):
  loaded = tf.saved_model.load(str(exported['dir']))
  fn = loaded.signatures['serving_default']
  args = dict(images=tf.constant(_image()), num_samples=tf.constant(2),
              temperature=tf.constant(1.0), seed=tf.constant([5, 6], tf.int64))
  first = fn(**args)['colorizations'].numpy()
  np.testing.assert_array_equal(fn(**args)['colorizations'], first)
  other = fn(**dict(args, seed=tf.constant([5, 7], tf.int64)))['colorizations'].numpy()
  assert not np.array_equal(first, other)
  reader = tf.train.load_checkpoint(str(exported['dir'] / 'variables' / 'variables'))
  names = [n for n in reader.get_variable_to_shape_map() if 'VARIABLE_VALUE' in n]
  assert len(names) == len(exported['model'].weights)   # model weights only, no RNG state


def test_version_directory_is_readable_by_a_serving_daemon(exported):
  umask = os.umask(0o022)
  os.umask(umask)
  assert exported['dir'].stat().st_mode & 0o777 == 0o777 & ~umask


@pytest.mark.slow   # saved_model_cli processes
def test_saved_model_cli_show_and_run(exported, tmp_path):
  cli = str(pathlib.Path(sys.executable).parent / 'saved_model_cli')
  show = subprocess.run([cli, 'show', '--all', '--dir', str(exported['dir'])],
                        capture_output=True, text=True, check=True).stdout
  for name in ('serving_default', 'log_likelihood', 'embedding_colorize'):
    assert f"signature_def['{name}']" in show
  default = show.split("signature_def['serving_default']")[1]
  # The inputs are of any shape (the graph checks them, naming the contract).
  for expected in ("inputs['images']", 'DT_UINT8', "inputs['num_samples']", 'DT_INT32',
                   "inputs['temperature']", 'DT_FLOAT', "inputs['seed']", 'DT_INT64',
                   "outputs['colorizations']", '(-1, -1, -1, -1, 3)'):
    assert expected in default, expected
  likelihood = show.split("signature_def['log_likelihood']")[1].split('signature_def')[0]
  assert "outputs['bits_per_dim']" in likelihood and 'shape: (-1)' in likelihood
  np.save(tmp_path / 'image.npy', _image())
  run = subprocess.run([cli, 'run', '--dir', str(exported['dir']), '--tag_set', 'serve',
                        '--signature_def', 'log_likelihood', '--inputs',
                        f'images={tmp_path / "image.npy"}'], capture_output=True, text=True,
                       check=False)
  assert run.returncode == 0, run.stderr[-2000:]
  assert 'bits_per_dim' in run.stdout
  # The limits, listed by name (their values: test_the_limits_are_stored_and_listed).
  limits = show.split("signature_def['limits']")[1].split('signature_def')[0]
  for name in ('max_images', 'max_pixels', 'max_samples', 'max_output_pixels'):
    assert f"outputs['{name}']" in limits, name


_SERVER_IN_PLACE = textwrap.dedent('''
    """Runs the client argv[2] with its gRPC channel answered by the SavedModel argv[1]:
    each request's wire bytes are parsed and run as TF Serving runs them."""
    import runpy, sys
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    model = tf.saved_model.load(sys.argv[1])

    class Channel:
      def unary_unary(self, method, request_serializer, response_deserializer, **kwargs):
        def call(request, timeout=None, **kwargs):
          assert method == '/tensorflow.serving.PredictionService/Predict', method
          received = predict_pb2.PredictRequest.FromString(request_serializer(request))
          assert received.model_spec.name == 'pic'
          fn = model.signatures[received.model_spec.signature_name]
          specs = fn.structured_input_signature[1]
          assert set(received.inputs) == set(specs)
          feeds = {}
          for name, proto in received.inputs.items():
            assert proto.dtype == specs[name].dtype.as_datatype_enum, name
            feeds[name] = tf.constant(tf.make_ndarray(proto))
          response = predict_pb2.PredictResponse()
          for name, value in fn(**feeds).items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
          return response_deserializer(response.SerializeToString())
        return call

    grpc.insecure_channel = lambda target, *args, **kwargs: Channel()
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name='__main__')
    print('pic_tf imported:', any(m.startswith('pic_tf') for m in sys.modules))
''')


def test_the_grpc_client_of_build_md_runs_as_written(exported, tmp_path):
  """BUILD.md's client, verbatim, in a fresh process without pic_tf; no model server
  exists here, so its channel's wire bytes are answered by the SavedModel."""
  build = (REPO / 'BUILD.md').read_text()
  client = [block for block in re.findall(r'```python\n(.*?)```', build, re.S)
            if 'PredictionServiceStub' in block]
  assert len(client) == 1
  (tmp_path / 'client.py').write_text(client[0])
  (tmp_path / 'server.py').write_text(_SERVER_IN_PLACE)
  shutil.copy(SCENE, tmp_path / 'photo.jpg')   # any format: the graph decodes it
  result = subprocess.run([sys.executable, 'server.py', str(exported['dir']), 'client.py'],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().splitlines()[-2:] == ['(1, 2, 4, 6, 3) (1, 2)',
                                                     'pic_tf imported: False']
  assert np.asarray(Image.open(tmp_path / 'photo_sample0.png')).shape == (4, 6, 3)


def test_binary_tensors_follow_tf_servings_bytes_rule(exported):
  """TF Serving's REST API base64-encodes a string output only if its name ends in
  ``_bytes``; a PNG under another name would not survive the JSON answer."""
  loaded = tf.saved_model.load(str(exported['dir']))
  strings = []
  for name, fn in loaded.signatures.items():
    tensors = dict(fn.structured_input_signature[1], **fn.structured_outputs)
    strings += [f'{name}: {key}' for key, spec in tensors.items() if spec.dtype == tf.string]
  assert strings and all(s.endswith('_bytes') for s in strings), strings
  photo = tf.io.encode_png(_image()[0]).numpy()
  outputs = loaded.signatures['colorize_encoded'](
      images_bytes=tf.constant([photo]), num_samples=tf.constant(2),
      temperature=tf.constant(1.0), seed=tf.constant([1, 2], tf.int64))

  def as_json(name, value):   # TF Serving's JSON mapping of a string tensor
    if isinstance(value, np.ndarray):
      return [as_json(name, v) for v in value]
    if name.endswith('_bytes'):
      return {'b64': base64.b64encode(value).decode('ascii')}
    return value.decode('utf-8')   # fails on binary data

  answer = json.dumps({'outputs': {name: as_json(name, value.numpy())
                                   for name, value in outputs.items()}})
  pngs = json.loads(answer)['outputs']['colorizations_bytes']
  assert [len(row) for row in pngs] == [2]
  for cell in pngs[0]:
    sample = np.asarray(Image.open(io.BytesIO(base64.b64decode(cell['b64']))))
    assert sample.shape == (4, 6, 3)


def test_bad_requests_fail_naming_the_contract(exported):
  """Every input of every signature: a wrong value, rank or shape is refused with a
  message that states what is expected."""
  loaded = tf.saved_model.load(str(exported['dir']))
  request = dict(num_samples=tf.constant(1), temperature=tf.constant(1.0),
                 seed=tf.constant([1, 2], tf.int64))
  image = tf.constant(_image())
  photo = tf.constant([tf.io.encode_png(_image()[0]).numpy()])
  images_contract = r'images must be uint8 \[N, H, W, C\] with N, H, W >= 1 and C = 1 or 3'
  cases = {
      'serving_default': (dict(request, images=image), [
          (dict(num_samples=tf.constant(0)), 'num_samples must be >= 1'),
          (dict(num_samples=tf.constant(65)), 'num_samples must be <= 64'),
          (dict(num_samples=tf.constant([1, 2])), 'num_samples must be a scalar'),
          (dict(temperature=tf.constant(-1.0)), 'temperature must be >= 0'),
          (dict(temperature=tf.constant(float('nan'))), 'temperature must be'),
          (dict(temperature=tf.constant(float('inf'))), 'temperature must be finite'),
          (dict(temperature=tf.constant([1.0])), 'temperature must be a scalar'),
          (dict(seed=tf.constant([1, 2, 3], tf.int64)), r'seed must be int64 \[2\]'),
          (dict(seed=tf.constant(1, tf.int64)), r'seed must be int64 \[2\]'),
          (dict(images=tf.zeros([8, 8, 3], tf.uint8)), images_contract),
          (dict(images=tf.zeros([1, 0, 5, 3], tf.uint8)), images_contract),
          (dict(images=tf.zeros([1, 4, 5, 2], tf.uint8)), images_contract)]),
      'colorize_encoded': (dict(request, images_bytes=photo), [
          (dict(images_bytes=photo[0]), r'images_bytes must be string \[N\]'),
          (dict(num_samples=tf.constant([1])), 'num_samples must be a scalar'),
          (dict(seed=tf.constant([1], tf.int64)), r'seed must be int64 \[2\]')]),
      'log_likelihood': (dict(images=image), [
          (dict(images=tf.zeros([4, 5, 3], tf.uint8)), r'images must be uint8 .* C = 3;'),
          (dict(images=tf.zeros([1, 4, 5, 1], tf.uint8)), r'images must be uint8 .* C = 3;')]),
      'embedding_colorize': (dict(images=image), [
          (dict(images=tf.zeros([5, 3], tf.uint8)), images_contract)]),
  }
  for name, (good, bad) in cases.items():
    fn = loaded.signatures[name]
    fn(**good)   # the good request is answered
    for change, message in bad:
      with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        fn(**dict(good, **change))
  with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
    loaded.signatures['serving_default'](**dict(request, images=tf.zeros([1, 4, 5, 3])))


def test_a_truncated_saved_model_is_one_clear_error(exported, tmp_path):
  damaged = tmp_path / 'damaged'
  shutil.copytree(exported['dir'], damaged / '1')
  data = next((damaged / '1' / 'variables').glob('variables.data-*'))
  with open(data, 'r+b') as f:
    f.truncate(data.stat().st_size // 3)
  result = subprocess.run([sys.executable, str(REPO / 'bin' / 'colorize'),
                           f'--saved_model={damaged}', f'--input={SCENE}',
                           f'--output_dir={tmp_path / "out"}'],
                          capture_output=True, text=True, check=False)
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: the SavedModel {damaged}/1 is damaged (Read less bytes than requested); '
      'export it again with bin/export')
  assert not (tmp_path / 'out').exists()


def test_other_signatures(exported):
  loaded = tf.saved_model.load(str(exported['dir']))
  image = _image()
  bpd = loaded.signatures['log_likelihood'](images=tf.constant(image))['bits_per_dim']
  assert bpd.shape == (1,) and bpd.dtype == tf.float32 and 0 < float(bpd[0]) < 20
  gray = image[..., :1]
  out = loaded.signatures['embedding_colorize'](images=tf.constant(gray))['colorizations']
  np.testing.assert_array_equal(out, pipeline.Colorizer(exported['model']).baseline(gray)[:, 0])


@pytest.mark.slow   # an XLA export
def test_jit_export_carries_the_compiled_pixel_loop(exported, tmp_path):
  """``bin/export --jit``: the SavedModel holds the XLA-compiled pixel loop and serves
  what the in-process XLA sampler draws (the default export stays uncompiled)."""
  model = exported['model']
  target = export_lib.export(model, str(tmp_path / 'serving'), jit=True)
  graph = (pathlib.Path(target) / 'saved_model.pb').read_bytes()
  assert b'_XlaMustCompile' in graph
  assert b'_XlaMustCompile' not in (exported['dir'] / 'saved_model.pb').read_bytes()
  served = tf.saved_model.load(target).signatures['serving_default'](
      images=tf.constant(_image()), num_samples=tf.constant(2),
      temperature=tf.constant(1.0), seed=tf.constant([3, 4], tf.int64))['colorizations']
  expected = pipeline.Colorizer(model, jit=True).colorize(_image(), 2, 1.0,
                                                           tf.constant([3, 4], tf.int64))
  np.testing.assert_array_equal(served, expected)


@pytest.mark.slow   # two export processes
def test_second_export_is_version_2_and_original_checkpoints_export(exported, tmp_path):
  model, _ = _random_model(1)
  names = original_checkpoints.original_name_map(model)
  keys = sorted(names)
  prefix = str(tmp_path / 'model.ckpt')
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=keys, shape_and_slices=[''] * len(keys),
                    tensors=[names[k] for k in keys])
  result = subprocess.run([sys.executable, str(REPO / 'bin' / 'export'), f'--checkpoint={prefix}',
                           '--config=tiny', f'--export_dir={exported["base"]}'],
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(exported['base'])) == ['1', '2']
  loaded = tf.saved_model.load(str(exported['base'] / '2'))
  bpd = loaded.signatures['log_likelihood'](images=tf.constant(_image()))['bits_per_dim']
  assert np.isfinite(bpd.numpy()).all()


@pytest.mark.slow   # two processes; the fresh-process test above compares the SavedModel by default
def test_bin_colorize_with_the_saved_model_matches_the_checkpoint(exported, tmp_path):
  result = subprocess.run([sys.executable, str(REPO / 'bin' / 'colorize'),
                           f'--saved_model={exported["dir"]}', f'--input={SCENE}',
                           '--num_samples=2', '--seed=7', f'--output_dir={tmp_path / "saved"}'],
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  # What bin/colorize --checkpoint runs, in process.
  colorizer = colorize_lib.load_colorizer(Source(exported['workdir']))
  colorize_lib.colorize_files(colorizer, [str(SCENE)], str(tmp_path / 'ckpt'),
                              SampleOptions(num_samples=2, seed=7), log=lambda m: None)
  for name in ('tiny_6x4.png_sample0.png', 'tiny_6x4.png_sample1.png'):
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'saved' / name)),
                                  np.asarray(Image.open(tmp_path / 'ckpt' / name)))


@pytest.mark.slow   # an export process
def test_weights_format_is_a_loadable_half_size_workdir(exported, tmp_path):
  out = tmp_path / 'weights'
  result = subprocess.run([sys.executable, str(REPO / 'bin' / 'export'),
                           f'--checkpoint={exported["workdir"]}', '--format=weights',
                           f'--export_dir={out}'], capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  model = loading.load(Source(str(out))).model
  for a, b in zip(model.weights, exported['model'].weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  again = subprocess.run([sys.executable, str(REPO / 'bin' / 'export'),
                          f'--checkpoint={exported["workdir"]}', '--format=weights',
                          f'--export_dir={out}'], capture_output=True, text=True, check=False)
  assert again.returncode == 1 and 'not empty' in again.stderr


def test_export_weights_leaves_nothing_behind_on_failure(exported, tmp_path, monkeypatch):
  def broken(directory, *args, **kwargs):
    (pathlib.Path(directory) / 'config.json').write_text('{}')
    raise OSError('disk full')
  monkeypatch.setattr(export_lib.workdir_lib, '_save', broken)
  with pytest.raises(OSError, match='disk full'):
    export_lib.export_weights(configs.tiny(), exported['model'], str(tmp_path / 'w'))
  assert os.listdir(tmp_path) == []   # neither the target nor a temporary directory


def _encoded(fmt, width, height, mode='RGB', **options):
  rng = np.random.default_rng(0)
  image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
  out = io.BytesIO()
  image.convert(mode).save(out, fmt, **options)
  return out.getvalue()


def test_encoded_sizes_are_read_from_the_header_of_every_format():
  """What TensorFlow's decoder will make of each format, from the header alone."""
  photos = {'PNG': _encoded('PNG', 37, 21), 'gray PNG': _encoded('PNG', 37, 21, 'L'),
            'JPEG': _encoded('JPEG', 37, 21),
            'progressive JPEG': _encoded('JPEG', 37, 21, progressive=True),
            'JPEG with 3 KB of EXIF': _encoded('JPEG', 37, 21, exif=b'Exif\0\0' + b'\0' * 3000),
            'GIF': _encoded('GIF', 37, 21, 'P'), 'BMP': _encoded('BMP', 37, 21),
            'lossy WebP': _encoded('WEBP', 37, 21),
            'lossless WebP': _encoded('WEBP', 37, 21, lossless=True),
            'PNG claiming 20000x30000': helpers.png_claiming(30000, 20000)}
  for name, data in photos.items():
    size = export_lib.encoded_size(tf.constant(data), tf.constant(0)).numpy().tolist()
    expected = [20000, 30000] if 'claiming' in name else list(
        tf.io.decode_image(data, expand_animations=False).shape[:2])
    assert size == expected, name
  for data in (b'', b'not an image', b'\x89PNG', b'\xff\xd8\xff\xe0\x00\x10'):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r'images_bytes\[0\]: not a JPEG, PNG, GIF, BMP or WebP'):
      export_lib.encoded_size(tf.constant(data), tf.constant(0))


_BAD_REQUESTS = textwrap.dedent('''
    import json, resource, sys, time
    import numpy as np
    import tensorflow as tf
    sys.path.insert(0, sys.argv[2])
    import helpers
    loaded = tf.saved_model.load(sys.argv[1])
    photo = open(sys.argv[3], 'rb').read()
    def request(images=None, images_bytes=None, num_samples=1):
      inputs = dict(num_samples=tf.constant(num_samples), temperature=tf.constant(1.0),
                    seed=tf.constant([1, 2], tf.int64))
      if images_bytes is None:
        return 'serving_default', dict(inputs, images=tf.zeros(images, tf.uint8))
      return 'colorize_encoded', dict(inputs, images_bytes=tf.constant(images_bytes))
    loaded.signatures['colorize_encoded'](**request(images_bytes=[photo])[1])   # traced
    loaded.signatures['serving_default'](**request(images=[1, 4, 6, 1])[1])
    requests = {
        'a small PNG claiming 20000x20000': request(
            images_bytes=[photo, helpers.png_claiming(20000, 20000)]),
        'a string that is no image': request(images_bytes=[photo, photo, b'no image']),
        '65 photos': request(images_bytes=[photo] * 65),
        'a 4096x4096 PNG claim, 5 samples': request(
            images_bytes=[helpers.png_claiming(4096, 4096)], num_samples=5),
        'a 4100x4100 image': request(images=[1, 4100, 4100, 1]),
        '2048x2048, 17 samples': request(images=[1, 2048, 2048, 1], num_samples=17),
        '65 images': request(images=[65, 8, 8, 1]),
    }
    results = {}
    for name, (signature, inputs) in requests.items():
      before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
      start = time.time()
      try:
        loaded.signatures[signature](**inputs)
        message = 'answered'
      except tf.errors.InvalidArgumentError as e:
        message = e.message
      results[name] = {'seconds': time.time() - start, 'message': message,
                       'grew_mb': (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                   - before) / 1024}
    print(json.dumps(results))
''')


def test_requests_beyond_the_limits_are_refused_at_once(exported, tmp_path):
  """Each request that would take the server's memory, sent to the export in a process
  of its own: refused with INVALID_ARGUMENT naming the input, its size and the limit,
  in under a second, with no large allocation (peak memory grows by less than the
  16 MB a client's own 4100x4100 tensor takes; decoding 20000x20000 would take 1.2 GB).
  Headers claiming sizes their data do not hold prove the decoder never ran: it would
  fail on the data first."""
  photo = tmp_path / 'photo.png'
  photo.write_bytes(_encoded('PNG', 6, 4))
  result = subprocess.run([sys.executable, '-c', _BAD_REQUESTS, str(exported['dir']),
                           str(REPO / 'tests'), str(photo)], capture_output=True, text=True,
                          check=False, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads(result.stdout.splitlines()[-1])
  limit = '(max_pixels, set at export)'
  expected = {
      'a small PNG claiming 20000x20000':
          f'images_bytes[1]: 20000x20000 = 400000000 pixels; the limit is 16777216 {limit}',
      'a string that is no image':
          'images_bytes[2]: not a JPEG, PNG, GIF, BMP or WebP image',
      '65 photos': 'images_bytes: 65 photos; the limit is 64 per request (max_images',
      'a 4096x4096 PNG claim, 5 samples':
          'images_bytes: 16777216 pixels x 5 samples = 83886080 colourised pixels; the limit '
          'is 67108864 per request (max_output_pixels',
      'a 4100x4100 image': f'images: 4100x4100 = 16810000 pixels an image; the limit is '
                           f'16777216 {limit}',
      '2048x2048, 17 samples': 'images: 4194304 pixels x 17 samples = 71303168 colourised '
                               'pixels; the limit is 67108864 per request (max_output_pixels',
      '65 images': 'images: 65 images; the limit is 64 per request (max_images',
  }
  for name, message in expected.items():
    got = results[name]
    said = [line for line in got['message'].splitlines() if 'assertion failed' in line]
    print(f'{name}: {got["seconds"]:.3f} s, +{got["grew_mb"]:.0f} MB: {said[:1]}')
    assert message in got['message'], (name, got['message'])
    assert got['seconds'] <= 1.0 and got['grew_mb'] < 16, (name, got)


def test_the_limits_are_stored_and_listed(exported):
  loaded = tf.saved_model.load(str(exported['dir']))
  stored = {name: int(value) for name, value in loaded.signatures['limits']().items()}
  assert stored == dataclasses.asdict(sampling.RequestLimits())


def test_two_exports_at_once_end_as_two_complete_versions(exported, tmp_path):
  """Two bin/export processes into one base directory at the same time (the second
  with its own limits): two complete versions, each with its own limits."""
  base = tmp_path / 'serving'
  commands = [[sys.executable, str(REPO / 'bin' / 'export'),
               f'--checkpoint={exported["workdir"]}', f'--export_dir={base}'] + extra
              for extra in ([], ['--max_samples=3'])]
  processes = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for c in commands]
  outputs = [p.communicate(timeout=300) for p in processes]
  assert [p.returncode for p in processes] == [0, 0], [o[1][-2000:] for o in outputs]
  assert sorted(os.listdir(base)) == ['1', '2']
  said = sorted(o[0].strip() for o in outputs)
  assert said == [f'exported to {base}/1', f'exported to {base}/2'], said
  max_samples = {}
  for version in ('1', '2'):
    loaded = tf.saved_model.load(str(base / version))
    max_samples[version] = int(loaded.signatures['limits']()['max_samples'])
  assert sorted(max_samples.values()) == [3, 64]
