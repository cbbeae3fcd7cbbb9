"""ILM experiment: a tiny end-to-end train -> evaluate -> analyse through the library functions, the batch file, the notebooks."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmresearch.batch import expand_jobs, load_batch, notebook_parameters
from lmresearch.core import LMRError
from lmresearch.ilm.analysis import load_results, write_analysis, specialised_beats_general
from lmresearch.ilm.experiment import (IlmExperimentError, evaluate_ilm, ilm_config, ppl_ci, prepare_ilm_data,
                                       sample_infills, save_eval, split_items, train_ilm)
from lmresearch.ilm.mask import SPAN_TYPES, TEST_SETS
from lmresearch.tracking import Run

ROOT = Path(__file__).resolve().parents[1]
TINY = {'model.layers': 1, 'model.width': 32, 'model.heads': 2, 'train.max_steps': 3, 'train.eval_every': 3,
        'train.batch_size': 4, 'train.log_every': 1, 'ilm.max_train_examples': 40, 'ilm.max_valid_examples': 8}


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp('ilm') / 'data'
    prepare_ilm_data(d, sample_size=250, per_doc=2, seed=0)
    return d


@pytest.fixture(scope='module')
def batch(data, tmp_path_factory) -> Path:
    "A batch folder as `lmr batch` leaves it: general, A1 and general->A1 trained and evaluated on A1 and B1."
    b = tmp_path_factory.mktemp('batch')
    rows = [{'job_id': 'data', 'status': 'completed', 'ilm_role': 'data'}]
    (b / 'data').mkdir(); (b / 'data' / 'run').symlink_to(data, target_is_directory=True)
    specs = [('general', 'all', None), ('levels-A1', 'A1', None), ('transfer-A1', 'A1', b / 'general' / 'run')]
    for job, level, init in specs:
        train_ilm(ilm_config('tiny', level, init_from=None if init is None else str(init), data_dir=str(data), overrides=TINY), b / job / 'run')
        rows.append({'job_id': job, 'status': 'completed', 'ilm_role': 'train'})
        res = evaluate_ilm(b / job / 'run', data, levels=['A1', 'B1'], max_docs_per_level=6, examples_per_doc=1, n_resamples=100)
        valid = evaluate_ilm(b / job / 'run', data, levels=['A1', 'B1'], split='valid', masks=['infill_textonly'],
                             max_docs_per_level=4, examples_per_doc=1, n_resamples=50)
        infills = sample_infills(b / job / 'run', data, levels=['A1', 'B1'], n=1, max_new_tokens=4)
        run = Run.create(b / f'eval-{job}' / 'run', config={'model_run': job}, tensorboard=False)
        run.finish(**save_eval(res, run, valid, infills))
        rows.append({'job_id': f'eval-{job}', 'status': 'completed', 'ilm_role': 'eval'})
    pd.DataFrame(rows).to_parquet(b / 'results.parquet')
    return b


def test_train_evaluate_end_to_end(batch, data):
    s = Run.open(batch / 'levels-A1' / 'run').summary
    assert (s['role'], s['model'], s['steps'], s['ilm_role']) == ('specialised', 'A1', 3, 'train')
    assert s['train_examples'] == 40 and 0 < s['valid_infill_loss'] < 11 and s['valid_loss'] > s['valid_infill_loss']
    t = Run.open(batch / 'transfer-A1' / 'run').summary
    assert (t['role'], t['model']) == ('transfer', 'general→A1')
    e = Run.open(batch / 'eval-levels-A1' / 'run')
    assert e.status == 'completed' and set(e.summary['ppl']) == {'infill_textonly', 'infill', 'context'}
    assert set(e.summary['dropped']) == {'A1', 'B1'} and e.summary['train_seed'] == 0
    per_type = pd.read_parquet(e.path('per_type.parquet'))
    assert set(per_type['type']) <= {'word', 'ngram', 'sentence', 'paragraph', 'document'} and per_type['spans'].min() >= 1
    pd_ = pd.read_parquet(e.path('per_doc.parquet'))
    assert set(pd_['test_level']) == {'A1', 'B1'} and (pd_.groupby(['test_level', 'mask']).size() <= 6).all()
    summ = pd.read_parquet(e.path('eval_summary.parquet'))
    assert (summ['ci_low'] <= summ['ppl']).all() and (summ['ppl'] <= summ['ci_high']).all()
    # the same model on the same documents: the same numbers (what the paired tests rely on)
    again = evaluate_ilm(batch / 'levels-A1' / 'run', data, levels=['A1', 'B1'], max_docs_per_level=6, examples_per_doc=1, n_resamples=100)
    pd.testing.assert_frame_equal(again.per_doc, pd_)


def test_analysis_of_a_batch_folder(batch, tmp_path):
    r = load_results(batch)
    assert set(r.per_doc['model']) == {'general', 'A1', 'general→A1'} and set(r.curves['role']) == {'general', 'specialised', 'transfer'}
    a = write_analysis(batch, tmp_path / 'out', figures_out=tmp_path / 'figs', n_resamples=200, n_permutations=200)
    assert list(a.h1['level']) == ['A1'] and list(a.matrix.index) == ['A1', 'general', 'general→A1']
    assert list(a.matrix.columns) == ['A1', 'B1', 'all'] and list(a.h2['best']) == ['A1', 'A1']  # B1's best: A1, on validation
    assert set(a.h2['chosen_on']) == {'validation'}
    assert list(a.mixed['system']) == ['general', 'specialised', 'transfer'] and set(a.l1['l1']) == {'unknown'}
    assert len(a.span_types) and set(a.seeds['seeds']) == {1}
    assert a.statements[0].startswith('H1 (specialised beats general on its level)') and ' of 1 levels' in a.statements[0]
    hyp = json.loads((tmp_path / 'out' / 'hypotheses.json').read_text())
    assert hyp['levels'] == 1 and len(hyp['statements']) == 5 and hyp['statements'][3].startswith('Mixed-level')
    assert hyp['statements'][4].startswith('Not tested: H1 leaves out B1') and hyp['failed'] == []
    made = sorted(p.name for p in (tmp_path / 'figs').glob('*.pdf'))
    assert made == ['ilm-learning-curves.pdf', 'ilm-ppl-heatmap.pdf', 'ilm-seed-spread.pdf', 'ilm-span-types.pdf',
                    'ilm-specialisation-gain.pdf']
    tables = sorted(p.name for p in (tmp_path / 'figs').glob('*.md'))
    assert tables == ['ilm-dropped.md', 'ilm-infills.md', 'ilm-l1.md', 'ilm-mixed.md', 'ilm-ppl-matrix.md', 'ilm-seeds.md',
                      'ilm-span-types.md', 'ilm-test-sets.md']
    assert '| *original* |' in (tmp_path / 'figs' / 'ilm-infills.md').read_text()
    assert json.loads((tmp_path / 'figs' / 'ilm-ppl-heatmap.json').read_text())['sources']
    assert specialised_beats_general(r.per_doc, n_resamples=200, n_permutations=200)['p_holm'].between(0, 1).all()


def test_bad_inputs_write_nothing(data, tmp_path):
    with pytest.raises(IlmExperimentError, match='no prepared/ folder'):
        train_ilm(ilm_config('tiny', 'A1', data_dir=str(tmp_path / 'none'), overrides=TINY), tmp_path / 'r1')
    with pytest.raises(LMRError, match='neither a run directory'):
        train_ilm(ilm_config('tiny', 'A1', init_from=str(tmp_path), data_dir=str(data), overrides=TINY), tmp_path / 'r2')
    with pytest.raises(IlmExperimentError, match="no test documents of level C2"):
        split_items(data, 'test', 'C2')
    assert not (tmp_path / 'r1').exists() and not (tmp_path / 'r2').exists()


def test_batch_file_plan(tmp_path):
    spec = load_batch(ROOT / 'configs' / 'batches' / 'ilm.yaml')
    assert spec.name == 'ilm'
    jobs = expand_jobs(spec, tmp_path)
    n = pd.Series([j.stage for j in jobs]).value_counts().to_dict()
    assert n == {'data': 1, 'general': 3, 'levels': 15, 'transfer': 15, 'eval-general': 3, 'eval-levels': 15,
                 'eval-transfer': 15}  # three training seeds
    by = {j.id: j for j in jobs}
    data_run = str(next(j for j in jobs if j.stage == 'data').run_dir)
    for j in jobs:
        if j.stage == 'transfer':
            assert j.params['init_from'] == str(by[j.needs].run_dir) and by[j.needs].stage == 'general'
            assert j.params['seed'] == by[j.needs].params['seed']                  # the seed of its general model
        if j.stage.startswith('eval-') or j.stage == 'data': assert j.params['seed'] == 0  # same data and test documents
        if j.stage.startswith('eval-'):
            up = by[j.needs]
            assert j.params['model_run'] == str(up.run_dir) and up.stage == j.stage[5:]
        if j.stage != 'data': assert j.params['data_dir'] == data_run
    assert sorted(j.params['level'] for j in jobs if j.stage == 'levels') == sorted(['A1', 'A2', 'B1', 'B2', 'C1'] * 3)
    assert sorted({j.params['seed'] for j in jobs if j.stage in ('general', 'levels', 'transfer')}) == [0, 1, 2]


@pytest.mark.parametrize('name', ['ilm_data', 'ilm_train', 'ilm_eval', 'ilm_analysis'])
def test_experiment_notebooks_are_clean_templates(name):
    import nbformat
    p = ROOT / 'nbs' / 'experiments' / f'{name}.ipynb'
    nb = nbformat.read(str(p), as_version=4)
    # a template may keep one demo job's outputs (`make outputs`), never papermill's injected cell or cell metadata
    assert not any('injected-parameters' in c.metadata.get('tags', []) for c in nb.cells), p.name
    assert not any('papermill' in c.metadata for c in nb.cells), p.name
    assert 'run_dir' in notebook_parameters(p)
    assert (ROOT / 'nbs' / 'experiments' / '.notest').is_file()


def test_store_evaluation_equals_list_based(batch, data):
    "Issue 17 §2: scoring from the token store gives, per document, the sums of the list-based path (format_example)."
    from lmresearch.ilm.model import MASKS, ilm_perplexity
    from lmresearch.models import load_model, load_tokenizer
    run = batch / 'levels-A1' / 'run'
    model, tok = load_model(run / 'model'), load_tokenizer(run / 'model')
    got = evaluate_ilm(run, data, levels=['B1'], max_docs_per_level=5, examples_per_doc=2, n_resamples=50).per_doc
    items = split_items(data, 'test', 'B1', max_docs_per_level=5, examples_per_doc=2)
    for m in MASKS:
        ref = ilm_perplexity(model, tok, [(x['doc'], x['spans']) for x in items], mask=m).docs
        ref = ref.assign(doc=[x['doc_id'] for x in items]).groupby('doc')[['nll', 'tokens', 'chars', 'bytes']].sum()
        g = got[got['mask'] == m].set_index('doc')
        assert list(g.index) == list(ref.index)
        assert (g[['tokens', 'chars', 'bytes']].to_numpy() == ref[['tokens', 'chars', 'bytes']].to_numpy()).all()
        assert abs(g['nll'] - ref['nll']).max() < 1e-3


def test_single_type_test_sets_and_lm_baseline(batch, data):
    "Issue 17 §3: one test set per span type beside the mixture; an LM scores the same answer tokens left to right."
    run = batch / 'general' / 'run'
    ilm = evaluate_ilm(run, data, levels=['A1', 'B1'], test_sets=TEST_SETS, max_docs_per_level=3, examples_per_doc=1,
                       n_resamples=50)
    assert set(ilm.per_doc['test_set']) == set(TEST_SETS)
    for t in SPAN_TYPES: assert set(ilm.per_type.loc[ilm.per_type['test_set'] == t, 'type']) == {t}
    lm = evaluate_ilm(run, data, levels=['A1', 'B1'], test_sets=TEST_SETS, max_docs_per_level=3, examples_per_doc=1,
                      n_resamples=50, task='lm')
    assert set(lm.per_doc['mask']) == {'infill_textonly', 'context'} and set(lm.summary['task']) == {'lm'}
    key = ['test_set', 'test_level', 'doc']
    a = ilm.per_doc[ilm.per_doc['mask'] == 'infill_textonly'].set_index(key)['tokens']
    b = lm.per_doc[lm.per_doc['mask'] == 'infill_textonly'].set_index(key)['tokens']
    assert a.sort_index().equals(b.sort_index())                                # the same blanks, token for token


def test_ci_contains_its_estimate_on_one_two_three_documents(batch, data):
    "Issue 17 §0: a CI always contains its estimate, where the bootstrap interval collapses (1-3 documents)."
    rng = np.random.default_rng(0)
    for k in (1, 2, 3):
        for s in range(50):
            d = pd.DataFrame({'nll': rng.uniform(0.1, 9, k) * 13.7, 'tokens': rng.integers(1, 40, k)})
            c = ppl_ci(d, 100, s)
            assert c['ci_low'] <= c['estimate'] <= c['ci_high'], (k, s, c)
        res = evaluate_ilm(batch / 'levels-A1' / 'run', data, levels=['A1', 'B1'], max_docs_per_level=k,
                           examples_per_doc=1, n_resamples=100)
        s_ = res.summary
        assert ((s_['ci_low'] <= s_['ppl']) & (s_['ppl'] <= s_['ci_high'])).all() and set(s_['docs']) == {k}


def test_lmr_ilm_analyse(batch, tmp_path, capsys):
    "`lmr ilm analyse RUNS_DIR`: the statements, the matrix and where the tables went."
    from lmresearch.cli import main
    assert main(['ilm', 'analyse', str(batch), '--figures', str(tmp_path / 'f'), '--n-resamples', '200']) == 0
    out = capsys.readouterr().out
    assert out.startswith('H1 (specialised beats general') and 'Not tested: H1 leaves out B1' in out
    assert (batch / 'analysis' / 'tables' / 'hypotheses.json').is_file() and (tmp_path / 'f' / 'ilm-ppl-heatmap.pdf').is_file()


TINY_BATCH = """name: tiny-level
params: {{preset: tiny, seed: 0}}
stages:
  - name: data
    notebook: {nbs}/ilm_data.ipynb
    params: {{csv: {csv}, columns: 'text=essay,level=cefr_level,l1=nationality', per_doc: 2}}
  - name: levels
    notebook: {nbs}/ilm_train.ipynb
    params: {{data_dir: '${{data.run_dir}}', level: A1, overrides: {overrides}}}
  - name: eval-levels
    notebook: {nbs}/ilm_eval.ipynb
    params: {{model_run: '${{levels.run_dir}}', data_dir: '${{levels.data_dir}}', n_resamples: 100, infills_per_level: 1}}
"""


def test_batch_on_a_learner_csv_with_a_tiny_level(tmp_path):
    """Issue 17 §0: a level of 18 texts (1-2 test documents) runs through data, training and evaluation; no job fails on
    its plot, every CI holds its estimate, and papermill parses every parameter (no 'Unable to parse' in any job log)."""
    import csv
    from lmresearch.batch import run_batch
    from lmresearch.corpora import load_corpus
    texts = [' '.join(r.text.split()[:60]) for r in load_corpus('lee-news')][:138]
    with open(tmp_path / 'learners.csv', 'w', newline='') as f:
        w = csv.writer(f); w.writerow(['essay', 'cefr_level', 'nationality'])
        w.writerows((t, 'A1' if i < 18 else 'B1', 'es' if i % 2 else 'zh') for i, t in enumerate(texts))
    overrides = json.dumps({**TINY, 'train.max_steps': 2, 'train.eval_every': 2})
    (tmp_path / 'b.yaml').write_text(TINY_BATCH.format(nbs=ROOT / 'nbs' / 'experiments', csv=tmp_path / 'learners.csv',
                                                       overrides=overrides))
    res = run_batch(tmp_path / 'b.yaml', out=tmp_path / 'runs', progress=False)
    logs = {p.parent.name: p.read_text() for p in (tmp_path / 'runs').glob('*/job.log')}
    assert res.ok, {k: v[-1500:] for k, v in logs.items()}
    for name, log in logs.items():
        assert 'Unable to parse' not in log and 'Passed unknown parameter' not in log, (name, log[-800:])
    ev = next((tmp_path / 'runs').glob('eval-levels*/run'))
    s = pd.read_parquet(ev / 'eval_summary.parquet')
    s = s[s['missing'].isna()]
    assert 'A1' in set(s['test_level']) and ((s['ci_low'] <= s['ppl']) & (s['ppl'] <= s['ci_high'])).all()
