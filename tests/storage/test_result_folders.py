"""Result folders: earlier results refused or replaced as a set, never mixed with new ones."""

import os

import pytest

from pic_tf.errors import PicError
from pic_tf.storage import result_folders


def _results(folder):
  return sorted(os.path.relpath(p, folder) for p in result_folders.find(str(folder)))


def test_a_folder_with_results_is_refused_unless_overwrite(tmp_path):
  result_folders.check(str(tmp_path / 'new'), overwrite=False)   # missing: fine, creates nothing
  assert not (tmp_path / 'new').exists()
  (tmp_path / 'photo.jpg').write_bytes(b'an input, not a result')
  result_folders.check(str(tmp_path), overwrite=False)
  (tmp_path / 'sub').mkdir()
  (tmp_path / 'sub' / 'x.png_grid.png').write_bytes(b'old')
  with pytest.raises(PicError, match=r'already holds 1 result file of .* sub/x.png_grid.png.*'
                     'overwrite it with'):
    result_folders.check(str(tmp_path), overwrite=False)
  result_folders.check(str(tmp_path), overwrite=True)


def test_commit_replaces_the_earlier_set_and_nothing_else(tmp_path):
  for name in ('a.png_sample0.png', 'a.png_sample1.png', 'a.png_grid.png', 'b.png_grid.png',
               'notes.txt', 'a.png'):
    (tmp_path / name).write_bytes(b'old')
  with result_folders.ResultSet(str(tmp_path)) as result_set:
    for name in ('a.png_sample0.png', 'd/c.png_grid.png'):
      with open(result_set.path(name), 'wb') as f:
        f.write(b'new')
    assert _results(tmp_path) == ['a.png_grid.png', 'a.png_sample0.png', 'a.png_sample1.png',
                                  'b.png_grid.png']   # staged, not yet visible
    result_set.commit()
  assert _results(tmp_path) == ['a.png_sample0.png', 'd/c.png_grid.png']
  assert (tmp_path / 'a.png_sample0.png').read_bytes() == b'new'
  assert sorted(os.listdir(tmp_path)) == ['a.png', 'a.png_sample0.png', 'd', 'notes.txt']


def test_leaving_without_commit_leaves_the_folder_as_it_was(tmp_path):
  (tmp_path / 'a.png_grid.png').write_bytes(b'old')
  with pytest.raises(KeyboardInterrupt):
    with result_folders.ResultSet(str(tmp_path)) as result_set:
      with open(result_set.path('a.png_grid.png'), 'wb') as f:
        f.write(b'new')
      raise KeyboardInterrupt
  assert os.listdir(tmp_path) == ['a.png_grid.png']
  assert (tmp_path / 'a.png_grid.png').read_bytes() == b'old'


def test_the_results_of_a_failed_input_are_discarded(tmp_path):
  with result_folders.ResultSet(str(tmp_path)) as result_set:
    for name in ('good.png_grid.png', 'bad.png_sample0.png'):
      with open(result_set.path(name), 'wb') as f:
        f.write(b'new')
    result_set.discard(['bad.png_sample0.png', 'bad.png_grid.png'])   # failed before its grid
    result_set.commit()
  assert os.listdir(tmp_path) == ['good.png_grid.png']


@pytest.mark.parametrize('how', ['nothing done', 'interrupted'])
def test_a_run_that_commits_nothing_leaves_no_folder_it_made(tmp_path, how):
  """README's ``--input=photo.jpg`` without a photo.jpg leaves no empty output folder."""
  (tmp_path / 'kept').mkdir()
  for output_dir in (tmp_path / 'a' / 'b' / 'out', tmp_path / 'kept'):
    try:
      with result_folders.ResultSet(str(output_dir)) as result_set:
        with open(result_set.path('a.png_grid.png'), 'wb') as f:
          f.write(b'new')
        result_set.discard(['a.png_grid.png'])
        if how == 'interrupted':
          raise KeyboardInterrupt
    except KeyboardInterrupt:
      pass
  assert sorted(os.listdir(tmp_path)) == ['kept']   # what was there stays
  assert os.listdir(tmp_path / 'kept') == []
