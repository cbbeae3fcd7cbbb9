"`lmr hindi ...` (lmresearch.hindi.cli) through a parser built here, as the lead's cli.LINE_CLIS will build it."
import argparse, re
from pathlib import Path

import pandas as pd
import pytest

from lmresearch.core import LMRError
from lmresearch.hindi.cli import add_commands
from lmresearch.hindi.evaluate import find_beside, read_pairs

UD = find_beside('shared/data/ud_hindi_hdtb')


def lmr(*argv):
    p = argparse.ArgumentParser(prog='lmr'); add_commands(p.add_subparsers())
    a = p.parse_args([str(x) for x in argv])
    return a.fn(a)


@pytest.mark.skipif(UD is None, reason='UD Hindi HDTB not beside the project (CC BY-NC-SA: not shipped)')
def test_pairs_writes_multiblimp_tsv(tmp_path, capsys):
    dev = next(UD.glob('*dev*.conllu'))
    assert lmr('hindi', 'pairs', '--ud', dev, '--out', tmp_path / 'p.tsv', '--per-phenomenon', 5) == 0
    p = read_pairs(tmp_path / 'p.tsv')            # MultiBLiMP columns sen / wrong_sen / phenomenon
    assert p.phenomenon.value_counts().max() == 5 and (p.good != p.bad).all()
    assert 'wrote 25 pairs' in capsys.readouterr().out             # 3 agreement and 2 word-order phenomena
    order = p[p.phenomenon.str.startswith('order_')]
    assert all(sorted(g.split()) == sorted(b.split()) for g, b in zip(order.good, order.bad))   # same words
    assert lmr('hindi', 'pairs', '--ud', dev, '--out', tmp_path / 'a.tsv', '--per-phenomenon', 5,
               '--kind', 'agreement') == 0
    assert set(read_pairs(tmp_path / 'a.tsv').phenomenon) == {'gender_agreement', 'number_agreement',
                                                                'person_agreement'}


def test_step_is_required():
    with pytest.raises(LMRError, match=re.escape('lmr hindi prepare | tokenizers | pairs | train | score')):
        lmr('hindi')


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    "A GPT-2 trained for 4 steps on 3k words of the packaged text (a run folder, as `lmr hindi train` writes it)."
    from lmresearch.hindi.corpus import prepare_corpus
    from lmresearch.hindi.experiment import hindi_config, run_hindi
    d = tmp_path_factory.mktemp('hindi-score')
    prepare_corpus(d / 'corpus', words='3k')
    run_hindi(hindi_config(overrides={'hindi.corpus_dir': str(d / 'corpus'), 'hindi.vocab_size': 300,
                                      'hindi.eval_sentences': 5, 'train.max_steps': 4, 'train.eval_every': 0,
                                      'train.batch_size': 4, 'train.seq_len': 32}), d / 'run')
    return d / 'run'


@pytest.mark.parametrize('name,text,fields', [
    ('p.tsv', 'sen\twrong_sen\tphenomenon\nलड़का "जाता" है।\tलड़का जाती है।\tgender\nलड़के आते हैं।\tलड़के आता हैं।\tnumber\n', None),
    ('p.csv', 'ok,bad\n"लड़का जाता है।",लड़का जाती है।\n', 'good=ok,bad=bad'),
    ('p.jsonl', '{"g": "लड़का जाता है।", "b": "लड़का जाती है।", "k": "gender"}\n', 'good=g,bad=b,phenomenon=k')])
def test_score_any_pairs_file(tiny_run, tmp_path, capsys, name, text, fields):
    (tmp_path / name).write_text(text, encoding='utf-8')
    args = ['hindi', 'score', '--run', tiny_run, '--pairs', tmp_path / name, '--out', tmp_path / 'out']
    assert lmr(*args, *(['--fields', fields] if fields else [])) == 0
    acc = pd.read_csv(tmp_path / 'out' / f'pairs-{Path(name).stem}-accuracy.csv')
    assert acc.phenomenon[0] == 'overall' and acc.pairs[0] == text.count('\n') - (name != 'p.jsonl')
    assert ((acc.ci_low <= acc.accuracy) & (acc.accuracy <= acc.ci_high)).all()
    assert '<unk> rate on the pairs' in capsys.readouterr().out


def test_score_bad_input_is_named(tiny_run, tmp_path):
    (tmp_path / 'p.tsv').write_text('sen\twrong_sen\nक\n', encoding='utf-8')
    with pytest.raises(LMRError, match=r'p\.tsv:2: 1 fields, the header has 2'):
        lmr('hindi', 'score', '--run', tiny_run, '--pairs', tmp_path / 'p.tsv')
    with pytest.raises(LMRError, match='--fields: expected good=COL'):
        lmr('hindi', 'score', '--run', tiny_run, '--pairs', tmp_path / 'p.tsv', '--fields', 'sentence=x')
