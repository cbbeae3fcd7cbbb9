"Packaged corpora: loading without network, scripts, caching, and the CEFR profiler's ordering."
import dataclasses, socket

import pytest

from lmresearch import corpora as C
from lmresearch.core import LMRError


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    "A private corpus cache for this module, so tests neither see nor touch the user's cache."
    mp = pytest.MonkeyPatch()
    d = tmp_path_factory.mktemp('lmr_cache')
    mp.setenv('LMR_CACHE', str(d))
    yield d
    mp.undo()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*a, **k): raise AssertionError('corpora must not touch the network')
    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)


def _boom(path):
    raise AssertionError(f'reader called: the cache should have been used ({path})')
    yield  # pragma: no cover


@pytest.mark.parametrize('name', sorted(C.CORPORA))
def test_corpus_loads_offline_in_its_script(name, cache, no_network):
    recs = C.load_corpus(name)
    spec = C.CORPORA[name]
    assert len(recs) > 0
    assert len({r.source for r in recs}) == len(recs), 'sources must identify records'
    assert all(r.source.startswith(f'corpus:{name}/') and r.text.strip() for r in recs)
    assert all(r.meta['corpus'] == name and r.meta['language'] == spec.language for r in recs)
    if spec.language == 'hi':
        assert all(C.devanagari_share(r.text) > 0.9 for r in recs), 'Hindi records must be Devanagari'
    else:
        letters = ''.join(c for r in recs for c in r.text if c.isalpha())
        assert sum(c.isascii() for c in letters) / len(letters) > 0.99   # (the article Alphabet quotes other scripts)
        assert C.devanagari_share(letters) < 1e-3
        assert all('\n\n\n' not in r.text and "'''" not in r.text and '[[' not in r.text for r in recs)


def test_sizes_match_the_packages(cache):
    n = {name: len(C.load_corpus(name)) for name in C.CORPORA}
    assert n['lee-news'] == 300 and n['hats-analogies'] == 405 and n['enwiki-sample'] == 106
    assert n['gita-hindi'] > 3000 and n['devdas-hindi'] > 400


def test_second_load_reads_the_cache(cache, monkeypatch):
    first = C.load_corpus('lee-news')
    path = C.corpus_cache_path('lee-news')
    assert path.is_file() and path.parent == cache / 'corpora'
    mtime = path.stat().st_mtime_ns
    monkeypatch.setitem(C.CORPORA, 'lee-news', dataclasses.replace(C.CORPORA['lee-news'], reader=_boom))
    assert C.load_corpus('lee-news') == first          # the reader would raise: no re-parse
    assert path.stat().st_mtime_ns == mtime              # and the file was not rewritten
    with pytest.raises(AssertionError, match='reader called'):
        C.load_corpus('lee-news', refresh=True)
    assert path.stat().st_mtime_ns == mtime              # a failed re-parse leaves the cache intact


def test_cache_is_keyed_by_package_version(cache, monkeypatch):
    old = C.corpus_cache_path('lee-news')
    C.load_corpus('lee-news')
    monkeypatch.setattr(C, 'package_version', lambda dist: '99.0')
    new = C.corpus_cache_path('lee-news')
    assert new != old and '99.0' in new.name and not new.exists()
    assert len(C.load_corpus('lee-news')) == 300 and new.is_file()


def test_corrupt_cache_is_parsed_again(cache):
    C.load_corpus('devdas-hindi')
    path = C.corpus_cache_path('devdas-hindi')
    n = len(path.read_text(encoding='utf-8').splitlines())
    path.write_text('{"id": "p0000", "te', encoding='utf-8')
    with pytest.warns(UserWarning, match='unreadable corpus cache'):
        recs = C.load_corpus('devdas-hindi')
    assert len(recs) == n == len(path.read_text(encoding='utf-8').splitlines())


def test_hats_is_evaluation_only(cache):
    C.load_corpus('hats-analogies')
    assert not C.corpus_cache_path('hats-analogies').exists()
    assert {r.meta['corpus'] for r in C.hindi_text()} == {'gita-hindi', 'devdas-hindi'}
    r = C.load_corpus('hats-analogies')[0]
    assert r.text.endswith('?') and r.meta['answer'] in r.meta['options']


def test_unknown_corpus_names_the_closest():
    with pytest.raises(LMRError, match='did you mean enwiki-sample'):
        C.load_corpus('enwiki')


def test_profiler_orders_simple_below_advanced():
    simple = 'The dog is happy. We play in the park every day. My mother has a red car.'
    middle = ('The government announced that the new policy would reduce pollution, although several '
              'experts doubted whether the measures were sufficient.')
    advanced = ('Notwithstanding the ostensibly immutable jurisprudence, the tribunal\'s idiosyncratic '
                'exegesis engendered a precipitous, unprecedented repudiation of hegemonic orthodoxy.')
    lv = [C.LEVELS.index(C.estimate_level(t)) for t in (simple, middle, advanced)]
    assert lv[0] < lv[1] < lv[2], lv
    assert C.estimate_level(simple) == 'A1' and C.estimate_level(advanced) == 'C2'
    means = [C.cefr_profile(t)['mean_level'] for t in (simple, middle, advanced)]
    assert means == sorted(means)


def test_profile_counts_are_consistent():
    p = C.cefr_profile("I don't know Mary. She can't swim, but she'll learn quickly.")
    assert p['names'] == 1 and p['tokens'] == p['known'] + p['unknown'] + p['names']
    assert sum(p['counts'].values()) == p['known'] and abs(sum(p['shares'].values()) - 1) < 1e-9
    assert C.estimate_level('') == C.UNKNOWN and C.cefr_profile('')['mean_level'] is None


def test_profile_corpus(cache):
    p = C.profile_corpus('lee-news')
    assert p['documents'] == 300 and p['words'] > 50_000 and p['language'] == 'en'
    assert sum(p['levels'].values()) == 300 and abs(sum(p['token_shares'].values()) - 1) < 1e-9
    h = C.profile_corpus('devdas-hindi')
    assert h['language'] == 'hi' and h['devanagari_share'] > 0.95 and 'levels' not in h
