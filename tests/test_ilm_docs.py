"""Property tests for lmresearch.ilm.docs: every representable document list round-trips; a bad one is refused."""
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from lmresearch.data import DataError
from lmresearch.ilm.docs import document_problem, normalize_document, read_documents, write_documents

SET = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# text rich in the characters that matter here: newlines, carriage returns, BOMs, quotes, commas, non-ASCII
chars = st.one_of(st.sampled_from(['\n', '\n', '\r', '\ufeff', ' ', '\t', ',', '"', 'é', '語']),
                  st.characters(blacklist_categories=('Cs',)))
texts = st.text(chars, max_size=40)
representable = st.one_of(texts.filter(lambda d: document_problem(d) is None),
                          texts.map(normalize_document).filter(lambda d: document_problem(d) is None))


@SET
@given(st.lists(representable, min_size=1, max_size=8))
def test_documents_round_trip(docs):
    if docs[0].startswith('\ufeff'): docs[0] = 'x' + docs[0]
    with tempfile.TemporaryDirectory() as d:
        p = write_documents(docs, Path(d) / 'docs.txt')
        assert read_documents(p) == docs


@SET
@given(st.lists(representable, min_size=1, max_size=4), texts, st.integers(0, 4))
def test_unrepresentable_document_is_refused_and_file_kept(good, bad, at):
    if good[0].startswith('\ufeff'): good[0] = 'x' + good[0]
    bad = bad + '\n\n\n' + bad if document_problem(bad) is None else bad
    docs = good[:at] + [bad] + good[at:]
    with tempfile.TemporaryDirectory() as d:
        p = write_documents(good, Path(d) / 'docs.txt')
        before = p.read_bytes()
        with pytest.raises(DataError, match=r'docs\[\d+\]'):
            write_documents(docs, p)
        assert p.read_bytes() == before and read_documents(p) == good


def test_normalize_makes_any_text_representable():
    for t in ['\n\nA\n\n\n\nB\n', 'A\r\n\r\n\r\nB', 'plain']:
        assert document_problem(normalize_document(t)) is None
