"Properties of lmresearch.evaluate: exact perplexities of a uniform model, per-byte normalisation, padding invariance, statistics vs SciPy."
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from hypothesis import given, settings, strategies as st

from lmresearch.evaluate import (EvalError, bootstrap_ci, compare_all, compare_models, holm, minimal_pair_accuracy,
                                 minimal_pair_scores, perplexity, plot_comparison, sentence_logprobs)

torch.set_num_threads(1)
HINDI = 'भारत एक विशाल देश है। यहाँ अनेक भाषाएँ बोली जाती हैं।'
ENGLISH = 'India is a large country. Many languages are spoken there.'


def char_tokenizer(alphabet: str):
    "Character-level HF tokenizer; <|endoftext|> is BOS, EOS and pad (as in GPT-2)."
    from tokenizers import Tokenizer, Regex, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {'<|endoftext|>': 0, '<unk>': 1} | {c: i + 2 for i, c in enumerate(sorted(set(alphabet)))}
    t = Tokenizer(models.WordLevel(vocab, unk_token='<unk>'))
    t.pre_tokenizer = pre_tokenizers.Split(Regex(r'[\s\S]'), behavior='isolated')
    t.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=t, bos_token='<|endoftext|>', eos_token='<|endoftext|>',
                                   pad_token='<|endoftext|>', unk_token='<unk>')


class UniformLM(torch.nn.Module):
    "Logits all zero: every token has probability 1/V."
    def __init__(self, vocab: int):
        super().__init__(); self.w = torch.nn.Parameter(torch.zeros(vocab))
    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.w.expand(*input_ids.shape, -1))


TOK = char_tokenizer(''.join(map(chr, range(32, 127))) + HINDI)
V = len(TOK)
UNIFORM = UniformLM(V)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from('abc xyz.,ABC' + HINDI[:6]), min_size=1, max_size=40), min_size=1, max_size=6),
       st.integers(1, 4))
def test_uniform_model_ppl_is_vocab_size(texts, batch_size):
    r = perplexity(UNIFORM, TOK, texts, batch_size=batch_size, progress=False)
    assert r.summary['tokens'] == sum(map(len, texts))        # BOS prepended: every character is scored
    assert r.summary['ppl'] == pytest.approx(V, rel=1e-5)
    assert r.summary['bits_per_char'] == pytest.approx(math.log2(V), rel=1e-6)
    nbytes = sum(len(t.encode('utf-8')) for t in texts)
    assert r.summary['bits_per_byte'] == pytest.approx(math.log2(V) * sum(map(len, texts)) / nbytes, rel=1e-6)


def test_per_byte_ascii_vs_multibyte():
    en = perplexity(UNIFORM, TOK, [ENGLISH], progress=False).summary
    hi = perplexity(UNIFORM, TOK, [HINDI], progress=False).summary
    assert en['bytes'] == en['chars'] and en['bits_per_byte'] == pytest.approx(en['bits_per_char'])
    assert hi['bytes'] > 2.5 * hi['chars']                      # Devanagari: 3 bytes a character
    assert hi['bits_per_char'] == pytest.approx(math.log2(V))
    assert hi['bits_per_byte'] == pytest.approx(math.log2(V) * hi['chars'] / hi['bytes'])
    assert hi['ppl_per_char'] == pytest.approx(V)


def test_no_bos_counts_only_scored_text():
    r = perplexity(UNIFORM, TOK, [ENGLISH, HINDI], add_bos=False, progress=False)
    assert r.docs.tokens.tolist() == [len(ENGLISH) - 1, len(HINDI) - 1]
    assert r.docs.chars.tolist() == [len(ENGLISH) - 1, len(HINDI) - 1]
    assert r.docs.bytes.tolist()[1] == len(HINDI[1:].encode('utf-8'))
    assert r.summary['bits_per_char'] == pytest.approx(math.log2(V))


def test_eos_scores_sentence_end():
    lp = sentence_logprobs(UNIFORM, TOK, ['abc', 'hello there'])
    lpe = sentence_logprobs(UNIFORM, TOK, ['abc', 'hello there'], add_eos=True)
    np.testing.assert_allclose(lp, [-3 * math.log(V), -11 * math.log(V)], rtol=1e-6)
    np.testing.assert_allclose(lpe - lp, -math.log(V), rtol=1e-6)


def test_gpt2_padding_and_mask_vs_hand():
    from lmresearch.models import build_tiny
    texts = ['The cat sat on the mat.', 'A much longer sentence, which needs padding in a batch of four.', 'Hi.',
             'Rain fell on the hills all night.', 'नमस्ते दुनिया']
    model = build_tiny('gpt2', layers=2, width=32, heads=2, vocab_size=V, positions=128, seed=0)
    r1 = perplexity(model, TOK, texts, batch_size=1, progress=False)
    r4 = perplexity(model, TOK, texts, batch_size=4, progress=False)
    np.testing.assert_allclose(r1.docs.nll, r4.docs.nll, atol=1e-5)
    # masked pre-tokenised examples: only tokens 5.. count; NLL by hand with log_softmax
    docs = []
    for i, t in enumerate(texts):
        ids = [0] + TOK(t, add_special_tokens=False)['input_ids']
        docs.append(dict(doc=i, input_ids=ids, loss_mask=[int(j >= 5) for j in range(len(ids))]))
    rm = perplexity(model, TOK, docs, batch_size=3, progress=False)
    for d, got in zip(docs, rm.docs.nll):
        x = torch.tensor([d['input_ids']])
        with torch.no_grad(): lp = torch.log_softmax(model(input_ids=x).logits.double(), -1)[0]
        hand = -sum(lp[j - 1, x[0, j]].item() for j in range(5, x.shape[1]))
        assert got == pytest.approx(hand, abs=1e-4)
    assert rm.docs.chars.isna().all() and math.isnan(rm.summary['bits_per_byte'])   # no text given: per-byte undefined


def test_bootstrap_ci_coverage_of_mean():
    rng = np.random.default_rng(0)
    hits = 0
    for s in range(200):
        x = rng.normal(1.0, 2.0, size=40)
        ci = bootstrap_ci(x, n_resamples=1000, confidence=0.9, seed=s)
        hits += ci['ci_low'] <= 1.0 <= ci['ci_high']
    assert 0.82 <= hits / 200 <= 0.96                           # nominal 0.90; percentile bootstrap undercovers a little


def test_bootstrap_ci_coverage_of_ratio():
    "Per-document NLL sums with varying token counts: the CI of exp(sum nll / sum tokens) covers exp(true rate)."
    rng = np.random.default_rng(1)
    hits = 0
    for s in range(150):
        tokens = rng.integers(5, 200, size=50)
        nll = tokens * 3.0 + rng.normal(0, 1, size=50) * np.sqrt(tokens) * 2
        df = pd.DataFrame(dict(doc=range(50), nll=nll, tokens=tokens))
        ci = bootstrap_ci(df, 'ppl', n_resamples=1000, confidence=0.9, seed=s)
        hits += ci['ci_low'] <= math.exp(3.0) <= ci['ci_high']
    assert 0.80 <= hits / 150 <= 0.97


def test_bootstrap_matches_scipy():
    x = np.random.default_rng(5).lognormal(size=300)
    ours = bootstrap_ci(x, n_resamples=5000, seed=2)
    sp = scipy.stats.bootstrap((x,), np.mean, n_resamples=5000, method='percentile', rng=np.random.default_rng(11)).confidence_interval
    assert ours['ci_low'] == pytest.approx(sp.low, abs=0.03) and ours['ci_high'] == pytest.approx(sp.high, abs=0.03)


@settings(max_examples=15, deadline=None)
@given(st.integers(3, 11), st.integers(0, 10_000))
def test_permutation_exact_equals_scipy(n, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=n), rng.normal(0.3, 1, size=n)
    ours = compare_models(x, y, n_permutations=4096)
    sp = scipy.stats.permutation_test((x, y), lambda a, b, axis: np.mean(b - a, axis=axis), permutation_type='samples',
                                      n_resamples=9999)
    assert ours.p_permutation[0] == pytest.approx(sp.pvalue, abs=1e-9)


def test_compare_models_properties():
    rng = np.random.default_rng(2)
    a = pd.DataFrame(dict(doc=[f'd{i}' for i in range(30)], nll=rng.uniform(50, 100, 30), tokens=rng.integers(20, 40, 30),
                          bytes=rng.integers(80, 160, 30)))
    same = compare_models(a, a.iloc[::-1], 'ppl')                # order does not matter; matched on doc
    assert same['diff'][0] == 0 and same.p_permutation[0] == 1 and same.p_bootstrap[0] == 1
    b = a.assign(nll=a.nll * 0.9, tokens=a.tokens + 3)           # another tokenizer: different token counts
    ab, ba = compare_models(a, b, 'bits_per_byte'), compare_models(b, a, 'bits_per_byte')
    assert ab['diff'][0] == pytest.approx(-ba['diff'][0]) and ab.p_permutation[0] == pytest.approx(ba.p_permutation[0])
    assert ab.ci_high[0] < 0 and ab.p_permutation[0] < 0.001
    with pytest.raises(EvalError, match='different documents'): compare_models(a, b.iloc[1:])
    with pytest.raises(EvalError, match="needs column\\(s\\) \\['chars'\\]"): compare_models(a, b, 'bits_per_char')


def test_holm_known_and_monotone():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5]), [0.5])
    np.testing.assert_allclose(holm([0.3, 0.6, 0.9]), [0.9, 1.0, 1.0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_holm_properties(p):
    p = np.array(p); adj = holm(p)
    assert (adj >= p - 1e-15).all() and (adj <= 1).all()
    o = np.argsort(p, kind='stable')
    assert (np.diff(adj[o]) >= -1e-15).all()                    # order preserved
    assert adj.min() == pytest.approx(min(1.0, len(p) * p.min()))  # the smallest gets Bonferroni
    assert (adj <= np.minimum(1, len(p) * p) + 1e-15).all()     # never worse than Bonferroni


def test_minimal_pairs_uniform_prefers_shorter():
    pairs = pd.DataFrame(dict(good=['ab', 'abc', 'x'], bad=['abc', 'ab', 'yy'], phenomenon=['p', 'p', 'q']))
    s = minimal_pair_scores(UNIFORM, TOK, pairs)
    assert s.correct.tolist() == [1, 0, 1]
    acc = minimal_pair_accuracy(UNIFORM, TOK, pairs)
    assert acc.to_dict('list') == dict(phenomenon=['overall', 'p', 'q'], pairs=[3, 2, 1], correct=[2, 1, 1], accuracy=[2 / 3, 0.5, 1.0])
    with pytest.raises(EvalError, match="missing column"): minimal_pair_accuracy(UNIFORM, TOK, pairs.rename(columns={'bad': 'b'}))


def test_compare_all_and_plot(tmp_path):
    import matplotlib; matplotlib.use('Agg')
    rng = np.random.default_rng(3)
    base = pd.DataFrame(dict(doc=range(20), nll=rng.uniform(50, 60, 20), tokens=20))
    models = {'base': base, 'same': base.assign(nll=base.nll + rng.normal(0, 0.1, 20)), 'better': base.assign(nll=base.nll - 5)}
    t = compare_all(models, 'ppl', baseline='base', n_resamples=2000, n_permutations=2000)
    assert t.model_b.tolist() == ['same', 'better'] and (t.p_permutation_holm >= t.p_permutation).all()
    assert len(compare_all(models, 'nll', n_resamples=500, n_permutations=500)) == 3
    fig = plot_comparison(t)
    fig.savefig(tmp_path / 'f.png')
    assert (tmp_path / 'f.png').stat().st_size > 1000
