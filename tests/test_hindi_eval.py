"Hindi evaluation (lmresearch.hindi.evaluate) on the real UD Hindi HDTB treebank (skipped when it is absent)."
from pathlib import Path

import pytest

from lmresearch.hindi.evaluate import ConlluError, agreement_pairs, find_beside, read_conllu, read_pairs, verb_forms

HDTB = find_beside('shared/data/ud_hindi_hdtb') or Path('../shared/data/ud_hindi_hdtb')   # beside the project
DEV = HDTB / 'hi-ud-dev.UDv1.2pre.conllu'
needs_hdtb = pytest.mark.skipif(not DEV.is_file(),
                                reason=f'UD Hindi HDTB not found at {HDTB} (CC BY-NC-SA: not shipped)')


@pytest.fixture(scope='module')
def dev():
    return read_conllu(DEV)


@needs_hdtb
def test_agreement_pairs_from_hdtb(dev):
    pairs = agreement_pairs(dev)
    assert len(dev) > 1000 and len(pairs) > 500
    assert set(pairs.phenomenon) <= {'gender_agreement', 'number_agreement', 'person_agreement'}
    inv = verb_forms(dev)
    attested = {f for v in inv.values() for c in v.values() for f in c}
    for g, b, v, w in zip(pairs.good, pairs.bad, pairs.verb, pairs.wrong_verb):
        gw, bw = g.split(), b.split()
        diff = [(x, y) for x, y in zip(gw, bw) if x != y]
        assert len(gw) == len(bw) and len(diff) == 1 and w in attested, (g, b)
    print(pairs.phenomenon.value_counts().to_dict())


@needs_hdtb
def test_parse_error_names_file_and_line(dev, tmp_path):
    lines = DEV.read_text(encoding='utf-8').split('\n')[:40]
    i = next(k for k, l in enumerate(lines) if l and not l.startswith('#'))
    lines[i] = lines[i].replace('\t', ' ', 1)
    (tmp_path / 'broken.conllu').write_text('\n'.join(lines), encoding='utf-8')
    with pytest.raises(ConlluError, match=rf'broken\.conllu:{i + 1}: expected 10 tab-separated fields'):
        read_conllu(tmp_path / 'broken.conllu')


def test_missing_pair_field_is_named(tmp_path):
    (tmp_path / 'p.csv').write_text('sen,bad,kind\nक,ख,x\n', encoding='utf-8')
    with pytest.raises(Exception, match="missing field bad \\(column 'wrong_sen'\\)"):
        read_pairs(tmp_path / 'p.csv')
    p = read_pairs(tmp_path / 'p.csv', {'bad': 'bad', 'phenomenon': 'kind'})
    assert (p.good.tolist(), p.bad.tolist(), p.phenomenon.tolist()) == (['क'], ['ख'], ['x'])


def test_scorer_gets_pairs_right_for_a_model_trained_on_their_good_sentences(tmp_path):
    "A known answer: a GPT-2 fitted to the grammatical sentences must prefer them; a tie (same words) scores 0.5."
    import pandas as pd
    from lmresearch.config import TrainConfig
    from lmresearch.models import pad_token_id
    from lmresearch.tracking import Run
    from lmresearch.train import Trainer
    from lmresearch.hindi.evaluate import pair_accuracy, pair_scores
    from lmresearch.hindi.model import build_model, examples_for
    from lmresearch.hindi.tokenizers import train_tokenizer
    subj = [('लड़का', 'जाता', 'जाती'), ('लड़की', 'जाती', 'जाता'), ('लड़के', 'जाते', 'जाता'), ('राम', 'खाता', 'खाती'),
            ('सीता', 'खाती', 'खाता'), ('बच्चे', 'खेलते', 'खेलता')]
    pairs = pd.DataFrame([{'good': f'{s} घर {g} है।', 'bad': f'{s} घर {b} है।', 'phenomenon': 'agreement'}
                          for s, g, b in subj])
    tok = train_tokenizer('bpe', list(pairs.good) * 4, 80, min_frequency=1)
    cfg = TrainConfig(max_steps=300, batch_size=6, lr=5e-3, seq_len=16, log_every=50)
    model = build_model('gpt2', 'tiny', tok, positions=16, seed=0)
    ex = examples_for(tok, list(pairs.good))
    Trainer(model, cfg, Run.create(tmp_path / 'run', config={}), ex, ex, pad_id=pad_token_id(tok), progress=False).fit()
    sc = pair_scores(model.eval(), tok, pairs)
    assert pair_accuracy(sc).accuracy[0] == 1.0, sc[['good', 'bad', 'score_good', 'score_bad']]
    same = pair_scores(model, tok, pairs.assign(bad=pairs.good))
    assert (same.correct == 0.5).all()
