"""The input pipeline's speed, on one core and on all (a short run; never pass/fail on speed)."""

from pic_tf.bench import input_speed
from pic_tf.model import devices


def test_both_pipelines_are_timed_on_one_core_and_on_all(tfds_dir):
  lines = []
  rows = input_speed.run(str(tfds_dir), photos=12, batches=2, log=lines.append)
  cores = devices.cpu_cores()
  assert [(r['pipeline'], r['threads']) for r in rows] == [
      (p, t) for t in sorted({1, cores}) for p in ('cifar10', 'photos')]
  assert all(r['images_per_second'] > 0 for r in rows)
  assert [line.split(':')[0] for line in lines[-2:]] == ['cifar10', 'photos']
  assert all('core(s) of this CPU feed it' in line for line in lines[-2:])
