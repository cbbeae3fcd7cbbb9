"""ELM line: data validation (file and line in every error), filter remapping, build fractions, ids and truncation,
drift-term gradient, pruning after the warm-up, the search with two workers on one storage
and a failed trial recorded while it goes on, the CLI's search with two workers and resume (also from another working
folder), and a non-zero exit when every trial fails."""
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
    assert json.loads((tmp_path / 'out' / 'best_params.json').read_text())['trial'] in (0, 1, 2)


def test_build_test_only_with_ids_and_truncation(tmp_path):
    from lmresearch.elm.data import encoder_lengths, read_pairs
    info = build(PQ, tmp_path / 'held', 'CONTEXTS', 'LONG_ANSWER', valid=0, test=1, max_pairs=8, progress=False)
    assert info['counts'] == {'train': 0, 'valid': 0, 'test': 8}
    assert sorted(f.name for f in (tmp_path / 'held').glob('*_synthesis.jsonl')) == ['test_synthesis.jsonl']
    pairs = read_pairs(PQ, 'CONTEXTS', 'LONG_ANSWER', max_pairs=8)
    rows, _ = read_split(tmp_path / 'held', 'test')
    assert [r['id'] for r in rows] == [p['id'] for p in pairs]                  # PubMed ids, in file order
    assert info['truncated'] == sum(n > 256 for n in encoder_lengths([p['text'] for p in pairs])) > 0
    with pytest.raises(ElmDataError, match='valid=0.5 test=0.6'):
        build(PQ, tmp_path / 'bad', 'CONTEXTS', 'LONG_ANSWER', valid=0.5, test=0.6, max_pairs=8, progress=False)


def test_pruned_below_median_after_warmup(tmp_path):
    from lmresearch.search import open_study
    from lmresearch.elm.experiment import make_reporter
    st = open_study('p', f'sqlite:///{tmp_path}/p.db', n_startup_trials=1, n_warmup_steps=2)
    def run(values):
        def obj(trial):
            rep = make_reporter(trial)
            for i, v in enumerate(values): rep({'valid_composite': v}, step=100 * i)
            return values[-1]
        st.optimize(obj, n_trials=1)
        return st.trials[-1]
    assert run([0.5, 0.5, 0.5, 0.5]).state.name == 'COMPLETE'
    t = run([0.1, 0.1, 0.1, 0.1])
    assert t.state.name == 'PRUNED' and max(t.intermediate_values) == 2       # two reports of warm-up, then pruned
    assert run([0.1, 0.1, 0.4, 0.9]).state.name == 'PRUNED'                    # below at report 2, though it would rise
    assert run([0.1, 0.2, 0.6, 0.6]).state.name == 'COMPLETE'                  # low only during the warm-up


def _cli():
    import argparse
    from lmresearch.elm.cli import add_commands
    p = argparse.ArgumentParser(); add_commands(p.add_subparsers(dest='command'))
    return p


def test_search_resumes_from_another_folder(data, tmp_path, monkeypatch):
    import shutil, optuna
    (tmp_path / 'a').mkdir(); (tmp_path / 'b' / 'c').mkdir(parents=True)
    shutil.copytree(data, tmp_path / 'built')
    p, db = _cli(), f'sqlite:///{tmp_path}/elm.db'
    monkeypatch.chdir(tmp_path / 'a')
    a = p.parse_args(f'elm search --study s --storage {db} --trials 1 --data-dir ../built --out out --preset tiny '
                     '--set train.max_steps=1 --set train.eval_every=1 --set elm.eval_examples=1 '
                     '--set elm.max_new_tokens=2'.split())
    assert a.fn(a) == 0
    monkeypatch.chdir(tmp_path / 'b' / 'c')                                     # ../built is elsewhere from here
    a = p.parse_args(f'elm search --study s --storage {db} --trials 1 --resume'.split())
    assert a.fn(a) == 0
    st = optuna.load_study(study_name='s', storage=db)
    assert [t.state.name for t in st.trials] == ['COMPLETE', 'COMPLETE']
    assert st.user_attrs['elm']['data_dir'] == str(tmp_path / 'built')
    assert (tmp_path / 'a' / 'out' / 'trials.csv').is_file()


def test_search_whose_trials_all_fail_exits_non_zero(data, tmp_path, capsys):
    from lmresearch.cli import main
    rc = main(f'elm search --study s --storage sqlite:///{tmp_path}/elm.db --trials 2 --data-dir {data} '
              f'--out {tmp_path}/out --preset tiny --set elm.embedding_dim=768'.split())
    assert rc != 0
    assert 'all 2 trials of this call failed' in capsys.readouterr().err
    assert (tmp_path / 'out' / 'trials.csv').is_file()                          # the table says why
