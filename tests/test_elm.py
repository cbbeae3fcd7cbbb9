"""ELM line: data validation (file and line in every error), filter remapping, drift-term gradient, the search with two
workers on one storage and a failed trial recorded while it goes on, and the CLI's search with two workers and resume."""
import json, os, textwrap
from pathlib import Path

import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from lmresearch.core import project_root
from lmresearch.elm.data import ElmDataError, build, filter_tasks, read_split, write_split

PQ = project_root() / 'assets' / 'pubmedqa' / 'ori_pqal.json'


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('elm') / 'pq'
    build(PQ, out, 'CONTEXTS', 'LONG_ANSWER', max_pairs=24, valid=0.2, progress=False)
    return out


@pytest.mark.parametrize('edit, message', [
    (lambda r, e: r[1].update(embedding_index=len(e)), 'train_synthesis.jsonl:2: embedding_index 24'),
    (lambda r, e: r[0].pop('input_prompt_template'), "train_synthesis.jsonl:1: missing field 'input_prompt_template'"),
    (lambda r, e: r[2].update(target_text=None), 'train_synthesis.jsonl:3: target_text must be a string'),
    (lambda r, e: e.__setitem__((3, 0), float('inf')), 'row(s) with NaN or infinite values, e.g. row 3'),
])
def test_validation_names_file_and_line(data, tmp_path, edit, message):
    rows, emb = read_split(data, 'train')
    rows = [dict(r) for r in rows] + [dict(rows[0]) for _ in range(24 - len(rows))]   # 24 rows, so index 24 is out of range
    emb = torch.cat([emb, emb[:24 - len(emb)]]) if len(emb) < 24 else emb.clone()
    edit(rows, emb)
    write_split(tmp_path, 'train', rows, emb)
    with pytest.raises(ElmDataError, match=message.replace('(', r'\(').replace(')', r'\)')):
        read_split(tmp_path, 'train')


def test_wrong_dimension(data):
    with pytest.raises(ElmDataError, match='embedding dimension 384, but the config expects 4096'):
        read_split(data, 'valid', dim=4096)


def test_filter_remaps_rows(data, tmp_path):
    rows, emb = read_split(data, 'train')
    mixed = []
    for i, r in enumerate(rows):
        mixed.append(dict(r, task_type='qa', target_text='?'))
        if i % 2: mixed.append(r)
    write_split(tmp_path / 'in', 'train', mixed, emb, tmp_path / 'in-emb')
    counts = filter_tasks(tmp_path / 'in', tmp_path / 'out', 'summary', tmp_path / 'in-emb', tmp_path / 'out-emb')
    kept, kemb = read_split(tmp_path / 'out', 'train', tmp_path / 'out-emb')
    assert counts == {'train': len(rows) // 2} and len(kemb) == len(kept)
    assert [k['embedding_index'] for k in kept] == list(range(len(kept)))
    for k, r in zip(kept, [r for r in mixed if r['task_type'] == 'summary']):
        assert torch.equal(kemb[k['embedding_index']], emb[r['embedding_index']])


def _tiny_model(data, **kw):
    from lmresearch.elm.train import elm_config, build_elm
    return build_elm(elm_config('tiny', data, overrides=kw))


def test_drift_gradient_reaches_adapter_and_vanishes_above_target(data):
    from lmresearch.elm.model import collate_elm
    from lmresearch.elm.train import task_examples
    rows, emb = read_split(data, 'train')
    for target, nonzero in ((0.99, True), (-1.0, False)):
        m = _tiny_model(data, **{'elm.text_drift_weight': 1.0, 'elm.text_drift_target_similarity': target, 'elm.dropout': 0.0})
        b = collate_elm(task_examples(rows[:4], emb, m.tokenizer, 16), m.tokenizer.pad_token_id)
        out = m.losses(b)
        m.zero_grad(); out['drift'].backward()
        g = sum(p.grad.abs().sum().item() for p in m.adapter.mlp.parameters() if p.grad is not None)
        assert (out['drift'].item() > 0) == nonzero and (g > 0) == nonzero, (target, out['drift'].item(), g)
        assert all(p.grad is None for p in m.lm.parameters())


def test_search_two_workers_and_a_failed_trial(tmp_path):
    from lmresearch.search import run_search, trials_table
    f = tmp_path / 'obj.py'
    f.write_text(textwrap.dedent('''
        import os, time
        def objective(trial):
            trial.set_user_attr('pid', os.getpid())
            x = trial.suggest_float('x', 0, 1)
            time.sleep(0.3)
            if trial.number == 1: raise RuntimeError('diverged')
            return x
    '''))
    db = f'sqlite:///{tmp_path}/s.db'
    st = run_search(f'{f}:objective', 's', db, n_trials=6, jobs=2)
    tt = trials_table(st)
    assert sorted(tt['number']) == list(range(6))                        # distinct trials, none lost
    assert len({t.user_attrs['pid'] for t in st.trials}) == 2             # two worker processes did them
    assert os.getpid() not in {t.user_attrs['pid'] for t in st.trials}
    failed = tt[tt['state'] == 'FAIL']
    assert list(failed['number']) == [1] and 'diverged' in failed['fail_reason'].iloc[0]
    assert (tt['state'] == 'COMPLETE').sum() == 5                         # the search went on after the failure


def test_elm_search_cli_two_workers_resume(data, tmp_path):
    import argparse, optuna
    from lmresearch.elm.cli import add_commands
    p = argparse.ArgumentParser(); add_commands(p.add_subparsers(dest='command'))
    db = f'sqlite:///{tmp_path}/elm.db'
    for line in (f'elm search --study s --storage {db} --trials 2 --jobs 2 --data-dir {data} --out {tmp_path}/out --preset tiny '
                 '--set train.max_steps=1 --set train.eval_every=1 --set elm.eval_examples=1 --set elm.max_new_tokens=2',
                 f'elm search --study s --storage {db} --trials 1 --resume'):
        a = p.parse_args(line.split()); assert a.fn(a) == 0
    st = optuna.load_study(study_name='s', storage=db)
    assert [t.number for t in st.trials] == [0, 1, 2] and all(t.state.name == 'COMPLETE' for t in st.trials)
    assert len({Path(t.user_attrs['run_dir']) for t in st.trials}) == 3
    assert json.loads((tmp_path / 'out' / 'search' / 'best_params.json').read_text())['trial'] in (0, 1, 2)
