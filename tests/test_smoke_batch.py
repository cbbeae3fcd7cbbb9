"""The smoke experiment notebook and its batch file: a valid template that `lmr batch` accepts, kept clean in nbs/."""
import json
from pathlib import Path

import nbformat

from lmresearch.batch import expand_jobs, load_batch, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / 'nbs' / 'experiments' / 'smoke_train.ipynb'

def test_smoke_notebook_is_a_clean_template():
    nb = nbformat.read(str(NB), as_version=4)
    params = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
    assert len(params) == 1
    assert {k: p.default for k, p in notebook_parameters(NB).items()} == {
        'run_dir': None, 'seed': 0, 'preset': 'tiny', 'corpus': 'lee-news', 'max_steps': 40, 'lr': 3e-3, 'seq_len': 64, 'eval_every': 20}
    code = [c for c in nb.cells if c.cell_type == 'code']
    assert not any('injected-parameters' in c.metadata.get('tags', []) for c in nb.cells)   # only its outputs are kept
    assert not any('papermill' in c.metadata for c in nb.cells)
    assert not any('#| export' in c.source or 'default_exp' in c.source for c in code)
    assert nb.metadata['kernelspec']['language'] == 'python'                    # papermill needs the language
    assert (NB.parent / '.notest').is_file()                                      # nbdev_test leaves it alone

def test_smoke_batch_file_is_valid(tmp_path):
    spec = load_batch(ROOT / 'configs' / 'batches' / 'smoke.yaml')
    (st,) = spec.stages
    assert (spec.name, st.notebook, st.varying) == ('smoke', NB, ['seed'])
    assert st.params == {'preset': 'tiny', 'corpus': 'lee-news', 'max_steps': 40, 'seq_len': 64, 'lr': 3e-3, 'eval_every': 20}
    jobs = expand_jobs(spec, tmp_path)
    assert [j.params['seed'] for j in jobs] == [0, 1] and all(j.id.startswith(f'seed={s}-') for j, s in zip(jobs, (0, 1)))
    quick = expand_jobs(load_batch(ROOT / 'configs' / 'batches' / 'smoke.yaml', overrides={'max_steps': 8, 'eval_every': 4}), tmp_path)
    assert [j.params['max_steps'] for j in quick] == [8, 8] and quick[0].id != jobs[0].id   # the quick smoke batch never reuses full jobs
