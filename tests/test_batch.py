"""`lmr batch`: real papermill batches (one job failing on purpose), re-runs, chained stages, bad input."""
import argparse, contextlib, io, json, os, shutil, socket, sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as hst

from lmresearch.batch import (BatchError, add_batch_args, batch_main, expand_jobs, finalize_job, job_id, load_batch,
                              notebook_hash, notebook_parameters, parse_sets, plan_jobs, reset_job, run_batch)
from lmresearch.tracking import Run

ROOT = Path(__file__).resolve().parents[1]
TOY = 'tests/notebooks/toy.ipynb'

def write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True); p.write_text(text); return p

TOY_BATCH = f'''
name: toy
notebook: {TOY}
params: {{scale: 2}}
sets:
  - {{x: 1}}
  - {{x: 2, label: b}}
  - {{x: 3, fail_if_exists: ../BROKEN}}
'''

@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    "A real batch of three jobs, two at a time; x=3 fails on purpose while out/BROKEN exists."
    d = tmp_path_factory.mktemp('batch')
    f, out = write(d / 'toy.yaml', TOY_BATCH), d / 'runs' / 'toy'
    out.mkdir(parents=True); (out / 'BROKEN').touch()
    return f, out, run_batch(f, jobs=2, out=out, progress=False)

def test_failure_does_not_stop_the_others(toy):
    f, out, r = toy
    test = {j: json.loads((out / j / 'job.json').read_text()) for j in [row['job'] for row in r.plan]}
    assert [t['status'] for t in test.values()] == ['completed', 'completed', 'failed']
    assert len(r.ran) == 3 and r.failed == [list(test)[2]] and not r.ok
    fd = out / r.failed[0]
    assert 'ValueError: failing on purpose (x=3)' in (fd / 'FAILED').read_text()
    assert test[r.failed[0]]['error'] == 'ValueError: failing on purpose (x=3)'
    assert Run.open(fd / 'run').status == 'failed'                 # the notebook's own Run is marked failed
    for j in list(test)[:2]:
        assert sorted(p.name for p in (out / j).iterdir()) == ['job.json', 'job.log', 'notebook.ipynb', 'run']
        assert 'y = ' in (out / j / 'job.log').read_text()
        executed = json.loads((out / j / 'notebook.ipynb').read_text())
        assert any('injected-parameters' in c['metadata'].get('tags', []) for c in executed['cells'])
    assert not list((ROOT / 'nbs').rglob('*toy*'))                  # papermill output never lands in nbs/

def test_results_table_matches_summaries(toy):
    f, out, r = toy
    for table in (pd.read_csv(out / 'results.csv'), pd.read_parquet(out / 'results.parquet')):
        assert list(table['job_id']) == [row['job'] for row in r.plan]
        assert list(table['status']) == ['completed', 'completed', 'failed']
        assert list(table['x']) == [1, 2, 3] and list(table['label']) == ['a', 'b', 'a'] and set(table['scale']) == {2.0}
        for row in table.to_dict('records'):
            summary = Run.open(out / row['job_id'] / 'run').summary
            if row['status'] == 'completed':
                assert summary == {'y': row['y'], 'x2': row['x2']} and summary['y'] == row['x'] * 2.0
            else: assert summary == {} and pd.isna(row['y'])
        assert {'duration_s', 'commit', 'error'} <= set(table.columns) and (table['duration_s'] > 0).all()

def test_rerun_skips_completed_and_runs_only_the_failed_job(toy):
    f, out, r = toy
    started = {j: json.loads((out / j / 'job.json').read_text())['started'] for j in r.ran}
    (out / 'BROKEN').unlink()                                        # the cause of the failure is gone
    fixed = run_batch(f, out=out, progress=False)                   # a plain re-run: no option
    assert [p['action'] for p in fixed.plan] == ['skip', 'skip', 'run'] and fixed.plan[2]['reason'] == 'failed before'
    assert fixed.ran == r.failed and fixed.failed == [] and fixed.ok
    for j in r.ran:
        now = json.loads((out / j / 'job.json').read_text())['started']
        assert (now == started[j]) == (j not in r.failed)
    assert list(pd.read_parquet(out / 'results.parquet')['y']) == [2.0, 4.0, 6.0]
    assert not (out / r.failed[0] / 'FAILED').exists()
    # the CLI entry point: everything completed now, exit 0; a dry run lists what it would do
    a = add_batch_args(argparse.ArgumentParser()).parse_args([str(f), '--out', str(out), '--dry-run'])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): assert batch_main(a) == 0
    assert 'would run 0, skip 3 completed' in buf.getvalue()

def test_changed_notebook_reruns(tmp_path):
    nb = tmp_path / 'toy.ipynb'; nb.write_text((ROOT / TOY).read_text())
    spec = load_batch(write(tmp_path / 'b.yaml', f'notebook: {nb}\ngrid: {{x: [1, 2]}}\n'))
    jobs = expand_jobs(spec, tmp_path / 'out')
    plan = plan_jobs(jobs)
    for j, p in zip(jobs, plan):
        reset_job(j, spec, p['notebook_hash'], None)
        rec = json.loads((j.dir / 'job.json').read_text()); rec['status'] = 'completed'
        (j.dir / 'job.json').write_text(json.dumps(rec))
    assert [p['action'] for p in plan_jobs(jobs)] == ['skip', 'skip']
    nb.write_text(nb.read_text().replace('Toy experiment', 'Toy experiment, edited'))   # any cell's source counts
    assert [(p['action'], p['reason']) for p in plan_jobs(jobs)] == [('run', 'notebook changed')] * 2

def _records(jobs, spec, statuses):
    "Write a job.json with each status (None: no record, the job is new) for the jobs, as a batch would have."
    for j, st in zip(jobs, statuses):
        if st is None: shutil.rmtree(j.dir, ignore_errors=True); continue
        reset_job(j, spec, notebook_hash(j.notebook), None)
        rec = json.loads((j.dir / 'job.json').read_text()); rec['status'] = st
        (j.dir / 'job.json').write_text(json.dumps(rec))

def test_default_rerun_runs_missing_and_failed_rerun_failed_only_failed(tmp_path):
    spec = load_batch(write(tmp_path / 'b.yaml', f'notebook: {TOY}\ngrid: {{x: [1, 2, 3, 4, 5]}}\n'))
    jobs = expand_jobs(spec, tmp_path / 'out')
    _records(jobs, spec, ['completed', 'failed', None, 'running', 'skipped'])   # running: left by an interrupted batch
    plain = plan_jobs(jobs)
    assert [(p['action'], p['reason']) for p in plain] == [('skip', 'completed'), ('run', 'failed before'), ('run', 'new'),
                                                           ('run', 'interrupted (running)'), ('run', 'skipped before')]
    only_failed = plan_jobs(jobs, rerun_failed=True)
    assert [p['action'] for p in only_failed] == ['skip', 'run', 'unselected', 'unselected', 'run']
    assert only_failed[2]['reason'] == 'new; --rerun-failed runs only failed jobs'
    assert [p['action'] for p in plan_jobs(jobs, rerun_failed=True, only='x=2*')] == ['unselected', 'run'] + ['unselected'] * 3
    # the CLI: --rerun-failed with nothing failed runs nothing (and is not an error)
    _records(jobs, spec, ['completed', 'completed', None, None, None])
    a = add_batch_args(argparse.ArgumentParser()).parse_args([str(tmp_path / 'b.yaml'), '--out', str(tmp_path / 'out'), '--rerun-failed', '--dry-run'])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): assert batch_main(a) == 0
    assert 'would run 0, skip 2 completed; 0 blocked, 3 not selected' in buf.getvalue()

def test_rerun_failed_reruns_the_stages_a_failure_skipped(tmp_path):
    spec = load_batch(write(tmp_path / 'chain.yaml', CHAIN))
    jobs = expand_jobs(spec, tmp_path / 'out')                     # train x=1, x=2; eval of each on valid, test
    _records(jobs, spec, ['completed', 'failed', 'completed', None, 'skipped', 'skipped'])
    assert [p['action'] for p in plan_jobs(jobs, rerun_failed=True)] == ['skip', 'run', 'skip', 'unselected', 'run', 'run']
    assert [p['action'] for p in plan_jobs(jobs)] == ['skip', 'run', 'skip', 'run', 'run', 'run']

def test_dead_job_process_is_a_failure(tmp_path):
    spec = load_batch(write(tmp_path / 'b.yaml', f'notebook: {TOY}\n'))
    (j,) = expand_jobs(spec, tmp_path / 'out')
    reset_job(j, spec, plan_jobs([j])[0]['notebook_hash'], None)
    (j.dir / 'job.log').write_text('Killed\n')
    rec = finalize_job(j, -9)
    assert rec['status'] == 'failed' and 'exited with status -9' in rec['error']
    assert 'Killed' in (j.dir / 'FAILED').read_text()
    assert [p['action'] for p in plan_jobs([j])] == ['run'] and [p['action'] for p in plan_jobs([j], rerun_failed=True)] == ['run']

CHAIN = f'''
name: chain
stages:
  - name: train
    notebook: {TOY}
    sets: [{{x: 1}}, {{x: 2, fail: true}}]
  - name: eval
    notebook: tests/notebooks/toy_eval.ipynb
    params: {{model_run: '${{train.run_dir}}'}}
    grid: {{split: [valid, test]}}
'''

def test_chained_stages(tmp_path):
    r = run_batch(write(tmp_path / 'chain.yaml', CHAIN), jobs=2, out=tmp_path / 'out', progress=False)
    t = r.table
    assert list(t['stage']) == ['train'] * 2 + ['eval'] * 4
    assert list(t['status']) == ['completed', 'failed', 'completed', 'completed', 'skipped', 'skipped']
    assert list(t['score'][2:4]) == [1.0, 2.0]                      # eval read the train run's summary (y = 1)
    assert list(t['x']) == [1, 2, 1, 1, 2, 2]                       # eval rows carry their train job's varying parameters
    assert list(t['model_run'][2:]) == [str(tmp_path / 'out' / t['job_id'][i // 2] / 'run') for i in range(4)]
    assert len(r.ran) == 4 and len(r.failed) == 1 and len(r.skipped) == 2
    assert t['error'][4].startswith('upstream job train-x=2_fail=true-')

BAD = [
    (f'notebook: {TOY}\ngrd: {{x: [1]}}\n', 'b.yaml: grd: unknown key (did you mean grid?)'),
    (f'notebook: {TOY}\ngrid: {{seed: [1, 2]}}\n', "b.yaml: grid.seed: toy.ipynb has no parameter 'seed'"),
    (f'notebook: {TOY}\ngrid: {{x: [1, abc]}}\n', "b.yaml: grid.x: expected int, got str 'abc'"),
    ('notebook: nbs/experiments/nope.ipynb\n', 'b.yaml: notebook: nbs/experiments/nope.ipynb does not exist'),
    (f'notebook: {TOY}\ngrid: {{}}\n', 'b.yaml: grid: empty grid'),
    (f'notebook: {TOY}\ngrid: {{x: []}}\n', 'b.yaml: grid.x: empty list'),
    (f'notebook: {TOY}\nsets: [{{x: 1}}]\ngrid: {{x: [2]}}\n', 'give either grid or sets, not both'),
    ('stages:\n  - {name: a, notebook: ' + TOY + "}\n  - {name: b, notebook: tests/notebooks/toy_eval.ipynb, params: {model_run: '${c.run_dir}'}}\n",
     "stages[1]: ${c.run_dir} refers to stage 'c', which is not an earlier stage (earlier stages: a)"),
]

@pytest.mark.parametrize('text,msg', BAD)
def test_bad_input_fails_before_any_job(tmp_path, text, msg):
    f, out = write(tmp_path / 'b.yaml', text), tmp_path / 'out'
    with pytest.raises(BatchError, match=None) as e: run_batch(f, out=out, progress=False)
    assert msg in str(e.value), str(e.value)
    assert not out.exists()

def test_notebook_without_parameters_cell(tmp_path):
    nb = json.loads((ROOT / TOY).read_text()); nb['cells'][1]['metadata']['tags'] = []
    (tmp_path / 'plain.ipynb').write_text(json.dumps(nb))
    with pytest.raises(BatchError, match='plain.ipynb: no cell tagged `parameters`'):
        run_batch(write(tmp_path / 'b.yaml', 'notebook: plain.ipynb\n'), out=tmp_path / 'out')
    nb['cells'][1]['metadata']['tags'] = ['parameters']; nb['cells'][1]['source'] = 'x = 1\n'
    (tmp_path / 'norun.ipynb').write_text(json.dumps(nb))
    with pytest.raises(BatchError, match='parameters cell has no `run_dir`'): load_batch(write(tmp_path / 'c.yaml', 'notebook: norun.ipynb\n'))

def test_slurm_needs_submitit_and_dry_run_shows_parameters(tmp_path, monkeypatch):
    f = write(tmp_path / 'b.yaml', f'notebook: {TOY}\ngrid: {{x: [1, 2]}}\nslurm: {{timeout_min: 30, gpus_per_node: 1}}\n')
    with monkeypatch.context() as m:
        m.setitem(sys.modules, 'submitit', None)   # as if it were not installed: `import submitit` raises ImportError
        with pytest.raises(BatchError, match=r"optional dependency .*pip install 'lmresearch\[slurm\]'"):
            run_batch(f, executor='slurm', out=tmp_path / 'out')
    assert not any((tmp_path / 'out').glob('*/job.json'))
    if shutil.which('srun') is None:                # no Slurm here: an error, not a silent run on submitit's local cluster
        with pytest.raises(BatchError, match='no Slurm on this machine.*cluster: local'):
            run_batch(f, executor='slurm', out=tmp_path / 'out')
    bad = write(tmp_path / 'c.yaml', f'notebook: {TOY}\nslurm: {{cluster: local, gpus: 1}}\n')
    with pytest.raises(BatchError, match='c.yaml: slurm: .*gpus'): run_batch(bad, executor='slurm', out=tmp_path / 'out')
    assert not any((tmp_path / 'out').glob('*/job.json'))
    a = add_batch_args(argparse.ArgumentParser()).parse_args([str(f), '--executor', 'slurm', '--dry-run', '--out', str(tmp_path / 'out')])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): assert batch_main(a) == 0
    assert 'slurm parameters: {"name": "lmr-b", "timeout_min": 30, "gpus_per_node": 1}' in buf.getvalue()
    assert 'would run 2' in buf.getvalue()

def test_submitit_local_cluster_runs_a_batch(tmp_path):
    "`--executor slurm` through submitit's own local cluster: each job submitted, pickled and run as a subprocess."
    f = write(tmp_path / 'b.yaml', f'notebook: {TOY}\nsets: [{{x: 2}}, {{x: 3, scale: 0.5}}]\n'
                                   'slurm: {cluster: local, timeout_min: 10}\n')
    out = tmp_path / 'out'
    r = run_batch(f, executor='slurm', jobs=2, out=out, progress=False)
    assert r.ok and len(r.ran) == 2
    table = pd.read_csv(out / 'results.csv')
    assert list(table['status']) == ['completed', 'completed'] and list(table['y']) == [2.0, 1.5]
    for j in table['job_id']:
        assert 'y = ' in (out / j / 'job.log').read_text() and Run.open(out / j / 'run').status == 'completed'
        assert json.loads((out / j / 'job.json').read_text())['pid'] != os.getpid()
    subs = list((out / '.submitit').glob('*_result.pkl'))         # submitit ran them: its job folder has the results
    assert len(subs) == 2

def test_second_batch_on_same_folder_is_refused(tmp_path):
    f, out = write(tmp_path / 'b.yaml', f'notebook: {TOY}\n'), tmp_path / 'out'
    write(out / '.lock', f'{socket.gethostname()} {os.getppid()}\n')   # a live process holds it
    with pytest.raises(BatchError, match='another lmr batch'): run_batch(f, out=out, progress=False)
    assert not any(out.glob('*/job.json'))

@settings(max_examples=50, deadline=None)
@given(hst.dictionaries(hst.sampled_from(['lr', 'seed', 'level', 'name']),
                        hst.one_of(hst.integers(), hst.floats(allow_nan=False), hst.text(max_size=40), hst.booleans()), min_size=1))
def test_job_ids_are_stable_safe_names(params):
    jid = job_id(params, params)
    assert jid == job_id(dict(params), dict(params)) and len(jid) <= 90
    assert all(c.isalnum() or c in '.+-=_' for c in jid) and not jid.startswith(('.', '-'))
    assert jid != job_id(params, {**params, 'extra': 1})

def test_batch_files_are_read_by_the_config_reader(tmp_path):
    "One YAML reader (config.read_yaml): a batch file, a config file and a --set value mean the same; errors are BatchError."
    from lmresearch.config import load_yaml, read_yaml
    text = 'lr: 1e-4\nb: 2.5e-4\nn: 3\nlevels: [A1, B1]\n'
    assert read_yaml(write(tmp_path / 'a.yaml', text)) == load_yaml(text) == {'lr': 1e-4, 'b': 2.5e-4, 'n': 3, 'levels': ['A1', 'B1']}
    assert parse_sets(['lr=1e-4', 'levels=[A1, B1]']) == {'lr': 1e-4, 'levels': ['A1', 'B1']}
    with pytest.raises(BatchError, match=r"d\.yaml: line 3: key 'lr' given twice \(first on line 2\)"):
        load_batch(write(tmp_path / 'd.yaml', 'grid:\n  lr: [1]\n  lr: [2]\n'))
    with pytest.raises(BatchError, match="--set 'd={a: 1, a: 2}': line 1: key 'a' given twice"): parse_sets(['d={a: 1, a: 2}'])
    with pytest.raises(BatchError, match='e.yaml: not UTF-8 text'):
        (tmp_path / 'e.yaml').write_bytes(b'name: \xff\n'); load_batch(tmp_path / 'e.yaml')
    with pytest.raises(BatchError, match='nope.yaml: no such batch file'): load_batch(tmp_path / 'nope.yaml')


def test_relative_out_and_a_notebook_without_kernelspec(tmp_path, monkeypatch):
    "`--out runs` relative to the current folder works, and a notebook with no kernelspec runs on the project's kernel."
    nb = json.loads((ROOT / TOY).read_text())
    nb['metadata'] = {}                                              # as some editors save it: no kernelspec, no language
    write(tmp_path / 'bare.ipynb', json.dumps(nb))
    f = write(tmp_path / 'bare.yaml', 'name: bare\nnotebook: bare.ipynb\nsets:\n  - {x: 1}\n')
    monkeypatch.chdir(tmp_path)
    r = run_batch('bare.yaml', out='runs', progress=False)
    assert r.ok, r.table.to_dict('records')
    assert r.out == tmp_path / 'runs' and (tmp_path / 'runs' / r.ran[0] / 'notebook.ipynb').is_file()
