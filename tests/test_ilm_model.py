"ILM formatting properties (hypothesis): decode -> parse -> fill gives the document back; masks partition the tokens; Trainer round trip."
import os, warnings

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings, strategies as st

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from lmresearch.ilm.model import (CONTEXT, CONTEXT_SPECIAL, INFILL, INFILL_SPECIAL, SEPARATOR, IlmError, add_ilm_tokens,
                                  fill_blanks, format_example, ilm_perplexity, ilm_training_examples, infill, parse_example)
from lmresearch.ilm.mask import SPAN_TYPES


@pytest.fixture(scope='module')
def tok():
    from lmresearch.models import load_tokenizer
    t = load_tokenizer('gpt2-tokenizer')
    add_ilm_tokens(t)
    return t


# Documents: English-like words, punctuation, spaces/newlines runs and some non-ASCII (accents, CJK, emoji: multi-byte BPE)
_piece = st.one_of(st.sampled_from(['the', 'cat', 'sat', 'on', 'mat', "don't", 'U.S.', '1999', 'naïve', 'café', '東京', '🙂',
                                    'Zürich', 'ﬁ', 'a', 'I']),
                   st.sampled_from([' ', '  ', '\n', '\n\n', '\t', '.', ',', '!', '?', '"', '-', "'"]),
                   st.text(st.characters(blacklist_categories=('Cs',)), min_size=1, max_size=4))


@st.composite
def doc_and_spans(draw):
    doc = ''.join(draw(st.lists(_piece, min_size=1, max_size=40)))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(doc)), max_size=12))) | {0, len(doc)})
    spans = []
    for a, b in zip(cuts, cuts[1:]):                  # alternate segments become spans, at random
        if b > a and draw(st.booleans()): spans.append((draw(st.sampled_from(SPAN_TYPES)), a, b - a))
    return doc, spans


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc_and_spans())
def test_round_trip(tok, ds):
    doc, spans = ds
    try: ex = format_example(doc, spans, tok)
    except IlmError as e:
        assert 'shares a token' in str(e) or 'contains the ILM token' in str(e), str(e)
        assume(False)
    # decode -> parse -> fill gives the document, at the text level and from the ids
    text = tok.decode(ex['input_ids'], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    ctx, answers = parse_example(text)
    assert fill_blanks(ctx, answers) == doc
    assert parse_example(ex['input_ids'], tok) == (ctx, answers)
    assert answers == ex['answers']
    # each answer covers its span's text (the covering tokens may add a little around it)
    for (t, o, n), a in zip(sorted(spans, key=lambda s: s[1]), answers):
        assert doc[o:o + n] in a
    # target types and masks
    tt, m = ex['target_types'], ex['masks']
    assert len(tt) == len(ex['input_ids']) == len(m['context']) == len(m['infill']) == len(m['infill_textonly'])
    assert tt.count(SEPARATOR) == 1 and tt.count(CONTEXT_SPECIAL) == len(spans) == tt.count(INFILL_SPECIAL)
    assert ex['types'] == [t for t, _, _ in sorted(spans, key=lambda s: s[1])]
    for i, t in enumerate(tt):
        assert m['context'][i] == (t == CONTEXT) and m['infill_textonly'][i] == (t == INFILL)
        assert m['infill'][i] == (t in (INFILL, INFILL_SPECIAL))
    # context + answer tokens are exactly the document's tokens
    n_doc = len(tok(doc, add_special_tokens=False)['input_ids'])
    assert sum(m['context']) + sum(m['infill_textonly']) == n_doc


def test_training_examples_and_trainer(tok, tmp_path):
    "ILM examples go through the project's Trainer unchanged, and only masked tokens count in its loss."
    from lmresearch.config import TrainConfig, to_dict
    from lmresearch.corpora import load_corpus
    from lmresearch.ilm.mask import reference_examples
    from lmresearch.models import build_tiny
    from lmresearch.tracking import Run
    from lmresearch.train import Trainer, collate, count_targets
    import re
    docs = [' '.join(re.split(r'(?<=[.!?])\s+', r.text)[:2]) for r in load_corpus('lee-news')[:12]]
    items = [(d, [(SPAN_TYPES[t], o, n) for t, o, n in m]) for d in docs for m in reference_examples(d, per_doc=2, p=0.05)]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ex_all = ilm_training_examples(items, tok, 128, train_on='all', too_long='drop')
        ex_inf = ilm_training_examples(items, tok, 128, train_on='infill', too_long='drop')
    assert len(ex_all) == len(ex_inf) > 10
    assert all(len(e['input_ids']) <= 128 for e in ex_all)
    b_all, b_inf = collate(ex_all, tok.pad_token_id), collate(ex_inf, tok.pad_token_id)
    assert 0 < count_targets(b_inf['labels']) < count_targets(b_all['labels'])
    model = build_tiny('gpt2', layers=1, width=32, heads=2, vocab_size=50257, positions=128, seed=0)
    add_ilm_tokens(tok, model)
    cfg = TrainConfig(lr=3e-3, batch_size=8, max_steps=6, seq_len=128, log_every=3, precision='fp32')
    run = Run.create(tmp_path / 'run', config={'train': to_dict(cfg)}, seed=0, tensorboard=False)
    summ = Trainer(model, cfg, run, ex_inf, ex_inf[:8], pad_id=tok.pad_token_id, seed=0, progress=False, cpu=True).fit()
    assert summ['steps'] == 6 and summ['valid_tokens'] == count_targets(collate(ex_inf[:8], tok.pad_token_id)['labels'])
    # the Trainer's valid loss is the infill loss that ilm_perplexity computes with the 'infill' mask
    fx = [format_example(d, s, tok) for d, s in items]
    fx = [e for e in fx if len(e['input_ids']) <= 128][:8]
    assert [e['input_ids'] for e in fx] == [e['input_ids'] for e in ex_inf[:8]]
    p = ilm_perplexity(model, tok, fx, mask='infill')
    assert p.summary['tokens'] == summ['valid_tokens']
    assert abs(p.summary['nll'] - summ['valid_loss']) < 1e-3
    # infilling a held-out example returns one answer per blank
    r = infill(model, tok, items[-1], strategy='top_p', max_new_tokens=20, seed=0)
    assert len(r.answers) == len(items[-1][1]) and r.references == format_example(*items[-1], tok)['answers']


def test_errors(tok):
    with pytest.raises(IlmError, match='overlap'): format_example('abcdef', [('word', 0, 3), ('word', 2, 2)], tok)
    with pytest.raises(IlmError, match='outside the document'): format_example('abc', [('word', 1, 9)], tok)
    with pytest.raises(IlmError, match="'infill_textonly', 'infill', 'context'"): ilm_perplexity(None, tok, [], mask='all')
