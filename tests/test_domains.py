"Domain-adapter data (lmresearch.domains): the real source shapes through `prepare_domains`, bad input, the CLI, the batch file."
import argparse, json

import pandas as pd
import pytest

from lmresearch.config import ConfigError
from lmresearch.core import stable_hash
from lmresearch.data import DataError
from lmresearch.domains.cli import add_commands
from lmresearch.domains.prepare import cap_rows, file_sha256, prepare_domains, read_domain
from lmresearch.domains.sources import DOMAINS, Source, load_sources, source_rows


def _registry(tmp_path, *entries):
    lines = ['sources:'] + [f'  - {json.dumps(e)}' for e in entries]
    (tmp_path / 'reg.yaml').write_text('\n'.join(lines) + '\n')
    return tmp_path / 'reg.yaml'


def _pubmedqa_rows(root, n=30):
    d = json.loads((root / 'assets' / 'pubmedqa' / 'ori_pqal.json').read_text())
    return [dict(id=k, **v) for k, v in list(d.items())[:n]]


@pytest.fixture
def shapes(tmp_path, root):
    "Real text (PubMedQA abstracts and answers) in every supported shape: DebateSum CSV, JSONL, Parquet, a folder of TXT books."
    rows = _pubmedqa_rows(root)
    pd.DataFrame({'Full-Document': ['\n\n'.join(r['CONTEXTS']) for r in rows], 'Extract': [r['QUESTION'] for r in rows],
                  'Abstract': [r['LONG_ANSWER'] for r in rows], 'Citation': [r['id'] for r in rows], 'Tag': ['t'] * len(rows),
                  'OriginalDebateFileName': ['x'] * len(rows)}).to_csv(tmp_path / 'debatesum.csv', index=False)
    (tmp_path / 'eco.jsonl').write_text(''.join(json.dumps({'text': r['LONG_ANSWER'], 'id': r['id']}) + '\n' for r in rows))
    pd.DataFrame({'body': [r['QUESTION'] for r in rows]}).to_parquet(tmp_path / 'edu.parquet')
    (tmp_path / 'books').mkdir()
    for i in range(3):
        (tmp_path / 'books' / f'ch{i}.txt').write_text('\n\n'.join(c.replace('. ', '.\n', 1) for c in rows[i]['CONTEXTS']) + '\n\nPage 3\n')
    return tmp_path


def test_every_shape_through_prepare(shapes, root):
    reg = _registry(shapes,
        {'name': 'pubmedqa', 'domain': 'medicine', 'path': str(root / 'assets/pubmedqa/ori_pqal.json'), 'text': ['CONTEXTS'],
         'prompt': '{QUESTION}', 'response': 'LONG_ANSWER', 'id': 'id', 'license': 'MIT'},
        {'name': 'debatesum', 'domain': 'debate', 'path': str(shapes / 'debatesum.csv'), 'text': ['Full-Document'],
         'prompt': 'Summarise.\n\n{Extract}', 'response': 'Abstract', 'id': 'Citation', 'license': 'MIT'},
        {'name': 'eco', 'domain': 'ecology', 'path': str(shapes / 'eco.jsonl'), 'id': 'id'},
        {'name': 'edu', 'domain': 'education', 'path': str(shapes / 'edu.parquet'), 'text': ['body']},
        {'name': 'books', 'domain': 'education', 'path': str(shapes / 'books'), 'min_words': 3})
    man = prepare_domains(shapes / 'out', registry=reg, max_docs_per_source=500, max_sft_per_domain=20)
    by = {s['name']: s for s in man['sources']}
    assert by['pubmedqa']['records'] == 1000 and by['pubmedqa']['kept'] == 500
    assert by['debatesum']['records'] == 30 and by['eco']['records'] == 30 and by['edu']['records'] == 30
    assert by['books']['records'] == sum(len(r['CONTEXTS']) for r in _pubmedqa_rows(root, 3))   # paragraphs; "Page 3" dropped
    assert by['debatesum']['sha256'] == file_sha256(shapes / 'debatesum.csv')
    assert sum(man['domains']['debate']['sft'].values()) == 20 and sum(man['domains']['medicine']['sft'].values()) == 20
    assert man['domains']['ecology']['sft'] == {'train': 0, 'valid': 0, 'test': 0}      # no prompt template: corpus only
    # PubMedQA's abstract is in the medicine corpus and in DebateSum's Full-Document: duplicates only within a domain
    med = read_domain(shapes / 'out', 'medicine', 'corpus'); deb = read_domain(shapes / 'out', 'debate', 'corpus')
    assert len({r['text'] for r in med} & {r['text'] for r in deb}) > 0
    assert all(r['split'] in ('train', 'valid', 'test') for r in med)
    sft = read_domain(shapes / 'out', 'debate')
    assert sft[0]['prompt'].startswith('Summarise.') and sft[0]['id'].startswith('debatesum:')
    ed = read_domain(shapes / 'out', 'education', 'corpus')
    assert not any(r['text'] == 'Page 3' for r in ed)


def test_exact_duplicates_dropped_within_domain(tmp_path):
    (tmp_path / 'a.jsonl').write_text('{"text": "same text"}\n{"text": "same text"}\n{"text": "other"}\n')
    (tmp_path / 'b.jsonl').write_text('{"text": "same text"}\n')
    reg = _registry(tmp_path, {'name': 'a', 'domain': 'ecology', 'path': str(tmp_path / 'a.jsonl')},
                    {'name': 'b', 'domain': 'ecology', 'path': str(tmp_path / 'b.jsonl')})
    man = prepare_domains(tmp_path / 'o', registry=reg)
    assert man['domains']['ecology']['duplicates_dropped']['corpus'] == 2
    assert [r['source'] for r in read_domain(tmp_path / 'o', 'ecology', 'corpus')] == ['a', 'a']
    assert (tmp_path / 'o' / 'corpus' / 'debate.jsonl').read_text() == ''     # empty domain: empty file


def test_caps_by_hash_not_first_rows(tmp_path):
    (tmp_path / 'a.jsonl').write_text(''.join(json.dumps({'text': f'document number {i}'}) + '\n' for i in range(100)))
    reg = _registry(tmp_path, {'name': 'a', 'domain': 'debate', 'path': str(tmp_path / 'a.jsonl')})
    prepare_domains(tmp_path / 'o', registry=reg, max_docs_per_source=10)
    kept = [r['id'] for r in read_domain(tmp_path / 'o', 'debate', 'corpus')]
    assert len(kept) == 10 and kept != [f'a:a.jsonl:{i}' for i in range(1, 11)]
    (tmp_path / 'b.jsonl').write_text(''.join(reversed((tmp_path / 'a.jsonl').read_text().splitlines(True))))
    reg2 = _registry(tmp_path, {'name': 'a', 'domain': 'debate', 'path': str(tmp_path / 'b.jsonl'), 'id': 'text'})
    reg1 = _registry(tmp_path / 'o', {'name': 'a', 'domain': 'debate', 'path': str(tmp_path / 'a.jsonl'), 'id': 'text'})
    prepare_domains(tmp_path / 'p', registry=reg1, max_docs_per_source=10); prepare_domains(tmp_path / 'q', registry=reg2, max_docs_per_source=10)
    t1, t2 = ({r['text'] for r in read_domain(tmp_path / d, 'debate', 'corpus')} for d in ('p', 'q'))
    assert t1 == t2                                   # the same rows whatever the file order (ids from a field)


def test_bad_input_named(tmp_path, root):
    (tmp_path / 'bad.jsonl').write_text('{"text": "ok"}\n\n{"text": "ok2"\n')
    reg = _registry(tmp_path, {'name': 'bad', 'domain': 'debate', 'path': str(tmp_path / 'bad.jsonl')})
    with pytest.raises(DataError, match=r'bad\.jsonl:3: invalid JSON on line 3'): prepare_domains(tmp_path / 'o', registry=reg)
    assert not (tmp_path / 'o').exists()                                             # nothing written
    reg = _registry(tmp_path, {'name': 'p', 'domain': 'medicine', 'path': str(root / 'assets/pubmedqa/ori_pqal.json'),
                               'text': ['CONTEXTS'], 'prompt': '{QUESTION}', 'response': 'LONG_ANSWR'})
    with pytest.raises(DataError, match=r"no key 'LONG_ANSWR' \(keys: 'id', 'QUESTION', 'CONTEXTS'"): prepare_domains(tmp_path / 'o', registry=reg)
    (tmp_path / 'r.yaml').write_text('sources:\n  - {name: x, domain: debate, path: a.xml, format: xml}\n')
    with pytest.raises(ConfigError, match=r"r\.yaml: sources\[0\]\.format: unknown format 'xml'"): load_sources(tmp_path / 'r.yaml')
    reg = _registry(tmp_path, {'name': 'gone', 'domain': 'ecology', 'path': str(tmp_path / 'nope.csv')})
    with pytest.raises(DataError, match=rf"source 'gone' \(ecology\): missing: {tmp_path}/nope.csv does not exist; pass --allow-missing"):
        prepare_domains(tmp_path / 'o', registry=reg)
    man = prepare_domains(tmp_path / 'o', registry=reg, allow_missing=True)
    assert man['skipped'] == [{'name': 'gone', 'domain': 'ecology', 'path': str(tmp_path / 'nope.csv'),
                               'reason': f'missing: {tmp_path}/nope.csv does not exist'}]
    assert json.loads((tmp_path / 'o' / 'manifest.json').read_text())['skipped'][0]['name'] == 'gone'


def test_pubmedqa_shared_copy_matches_assets(shared_data, root):
    f = shared_data / 'pubmedqa' / 'ori_pqal.json'
    assert file_sha256(f) == file_sha256(root / 'assets' / 'pubmedqa' / 'ori_pqal.json')


def test_cli_prepare_and_env_defaults(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('MAX_DOCS_PER_SOURCE', '15'); monkeypatch.setenv('ALLOW_MISSING_DATA', '1')
    ap = argparse.ArgumentParser(prog='lmr'); add_commands(ap.add_subparsers(dest='command'))
    a = ap.parse_args(['domains', 'prepare', '--out', str(tmp_path / 'd'), '--only', 'pubmedqa,debatesum'])
    assert a.fn(a) == 0
    out = capsys.readouterr().out
    assert "'max_docs_per_source': 15" in out and 'debatesum' in out and 'missing' in out
    assert len(read_domain(tmp_path / 'd', 'medicine', 'corpus')) == 15
    monkeypatch.setenv('MAX_DOCS_PER_SOURCE', 'ten')
    with pytest.raises(DataError, match="MAX_DOCS_PER_SOURCE='ten': expected an integer"):
        add_commands(argparse.ArgumentParser().add_subparsers())


def test_batch_file_valid(root, tmp_path):
    from lmresearch.batch import run_batch
    res = run_batch(root / 'configs' / 'batches' / 'domains.yaml', dry_run=True, out=tmp_path / 'domains')
    assert len(res.plan) == 12 and {r['action'] for r in res.plan} == {'run'}


@pytest.fixture
def http_server(tmp_path):
    "A local HTTP server on 127.0.0.1 serving tmp_path/www, started and stopped by the test."
    import functools, http.server, threading
    www = tmp_path / 'www'; www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    yield www, f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown(); srv.server_close(); t.join(5)


def test_fetch_lock_refuse_and_offline(tmp_path, http_server, monkeypatch, root):
    from lmresearch.domains.prepare import fetch
    www, url = http_server
    pd.DataFrame({'Full-Document': ['evidence one', 'evidence two'], 'Abstract': ['a', 'b']}).to_csv(www / 'debatesum.csv', index=False)
    reg = _registry(tmp_path, {'name': 'debatesum', 'domain': 'debate', 'url': f'{url}/debatesum.csv', 'text': ['Full-Document'],
                               'path': str(tmp_path / 'raw' / 'debatesum.csv')})
    lock = tmp_path / 'raw' / 'sources.lock.json'
    rows = fetch(registry=reg, lock=lock)
    first = (tmp_path / 'raw' / 'debatesum.csv').read_bytes()
    assert rows[0]['status'] == 'downloaded' and first == (www / 'debatesum.csv').read_bytes()
    assert json.loads(lock.read_text())['debatesum']['sha256'] == file_sha256(www / 'debatesum.csv')
    assert fetch(registry=reg, lock=lock)[0]['status'] == 'downloaded'             # unchanged: accepted again
    (www / 'debatesum.csv').write_text('Full-Document,Abstract\nchanged,c\n')
    with pytest.raises(DataError, match=r"source 'debatesum': .*debatesum\.csv now has sha256 .* the lock expects .*refused, .* kept"):
        fetch(registry=reg, lock=lock)
    assert (tmp_path / 'raw' / 'debatesum.csv').read_bytes() == first             # the old file kept
    assert not (tmp_path / 'raw' / 'debatesum.csv.part').exists()
    import socket, urllib.request
    def no_network(*a, **k): raise AssertionError('offline mode opened a connection')
    monkeypatch.setattr(urllib.request, 'urlopen', no_network); monkeypatch.setattr(socket, 'create_connection', no_network)
    assert fetch(registry=reg, lock=lock, offline=True)[0]['status'] == 'present'
    (tmp_path / 'raw' / 'debatesum.csv').unlink()
    assert fetch(registry=reg, lock=lock, offline=True)[0]['status'] == 'missing (offline)'


def _tree(root, project):
    "A project folder holding a registry with relative paths: a folder of books (with a sub-folder), a CSV, JSONL."
    rows = _pubmedqa_rows(root, 40)
    (project / 'raw' / 'books' / 'part2').mkdir(parents=True)
    for i in range(4):
        sub = project / 'raw' / 'books' / ('part2' if i % 2 else '')
        (sub / f'ch{i}.txt').write_text('\n\n'.join(rows[i]['CONTEXTS']) + '\n')
    pd.DataFrame({'Full-Document': ['\n\n'.join(r['CONTEXTS']) for r in rows], 'Abstract': [r['LONG_ANSWER'] for r in rows],
                  'Extract': [r['QUESTION'] for r in rows]}).to_csv(project / 'raw' / 'cards.csv', index=False)
    (project / 'raw' / 'eco.jsonl').write_text(''.join(json.dumps({'text': r['LONG_ANSWER']}) + '\n' for r in rows))
    (project / 'reg.yaml').write_text(
        'sources:\n'
        '  - {name: books, domain: education, path: raw/books, format: txt, paragraphs: true, min_words: 3}\n'
        "  - {name: cards, domain: debate, path: raw/cards.csv, text: [Full-Document], prompt: '{Extract}', response: Abstract}\n"
        '  - {name: eco, domain: ecology, path: raw/eco.jsonl}\n')
    return project / 'reg.yaml'


def _outputs(d):
    return {p.relative_to(d).as_posix(): p.read_text() for p in sorted(d.rglob('*.jsonl'))}


def test_moved_source_folder_gives_identical_outputs(tmp_path, root):
    "Ids are relative to each source's own path: moving the project (or only a source folder) changes nothing."
    import shutil
    reg = _tree(root, tmp_path / 'a')
    man_a = prepare_domains(tmp_path / 'out-a', registry=reg, root=tmp_path / 'a', max_docs_per_source=15, max_sft_per_domain=9)
    shutil.copytree(tmp_path / 'a', tmp_path / 'elsewhere' / 'b')
    shutil.rmtree(tmp_path / 'a')
    b = tmp_path / 'elsewhere' / 'b'
    man_b = prepare_domains(tmp_path / 'out-b', registry=b / 'reg.yaml', root=b, max_docs_per_source=15, max_sft_per_domain=9)
    drop = lambda m: {k: v for k, v in m.items() if k != 'created'}
    assert drop(man_a) == drop(man_b)
    assert {s['name']: s['path'] for s in man_a['sources']} == {'books': 'raw/books', 'cards': 'raw/cards.csv', 'eco': 'raw/eco.jsonl'}
    assert _outputs(tmp_path / 'out-a') == _outputs(tmp_path / 'out-b')
    ids = [r['id'] for r in read_domain(tmp_path / 'out-b', 'education', 'corpus')]
    assert ids and all(i.startswith(('books:ch0.txt#p=', 'books:ch2.txt#p=', 'books:part2/ch1.txt#p=', 'books:part2/ch3.txt#p='))
                       for i in ids)
    assert not any(i.count('#p=') > 1 or str(tmp_path) in i for i in ids)
    # a source folder given by an absolute path, moved on its own: the same rows, ids and splits
    shutil.copytree(b / 'raw' / 'books', tmp_path / 'moved' / 'books')
    one = lambda p: Source('books', 'education', path=str(p), format='txt', paragraphs=True, min_words=3)
    assert list(source_rows(one(b / 'raw' / 'books'))) == list(source_rows(one(tmp_path / 'moved' / 'books')))


def test_streaming_prepare_equals_in_memory(tmp_path, root):
    "The streamed readers and the bounded cap give the rows an in-memory read (pandas, json) and a full sort give."
    reg = _tree(root, tmp_path)
    srcs = {s.name: s for s in load_sources(reg)}
    cards = pd.read_csv(tmp_path / 'raw' / 'cards.csv', dtype=str, keep_default_na=False)
    want = [{'id': f'cards:cards.csv#row={i}', 'source': 'cards', 'text': r['Full-Document'], 'prompt': r['Extract'],
             'response': r['Abstract']} for i, r in enumerate(cards.to_dict('records'), 1)]
    got = list(source_rows(srcs['cards'], root=tmp_path))
    assert got == want
    eco = [json.loads(l)['text'] for l in (tmp_path / 'raw' / 'eco.jsonl').read_text().splitlines()]
    assert [r['text'] for r in source_rows(srcs['eco'], root=tmp_path)] == eco
    in_memory = sorted(range(len(want)), key=lambda i: stable_hash('cap', 42, want[i]['id']))[:7]
    assert cap_rows(iter(got), 7) == [want[i] for i in sorted(in_memory)]
    for n in (0, 1, 39, 40, 41, None): assert cap_rows(iter(got), n) == cap_rows(list(got), n)
    pd.DataFrame(want).to_parquet(tmp_path / 'cards.parquet')
    pq = Source('pq', 'debate', path=str(tmp_path / 'cards.parquet'), prompt='{prompt}', response='response', id='id')
    from lmresearch.data import iter_records
    assert [r.text for r in iter_records(tmp_path / 'cards.parquet')] == [w['text'] for w in want]
    assert [r['prompt'] for r in source_rows(pq)] == [w['prompt'] for w in want]


def test_study_batch_file_valid(root, tmp_path):
    from lmresearch.batch import run_batch
    res = run_batch(root / 'configs' / 'batches' / 'domains-study.yaml', dry_run=True, out=tmp_path / 'domains-study')
    assert len(res.plan) == 5 and {r['action'] for r in res.plan} == {'run'}


@pytest.fixture(scope='module')
def tiny_study(tmp_path_factory):
    "Three tiny runs on shared data (medicine LoRA and QLoRA, ecology LoRA), as the study's batch lays them out."
    from lmresearch.domains.experiment import domain_config, run_domain_adapter
    d = tmp_path_factory.mktemp('study')
    prepare_domains(d / 'data', max_docs_per_source=40, max_sft_per_domain=40)
    ov = {'train.max_steps': 4, 'train.eval_every': 2, 'domains.generations': 2}
    for dom, m in [('medicine', 'lora'), ('medicine', 'qlora'), ('ecology', 'lora')]:
        run_domain_adapter(domain_config('tiny', dom, m, data_dir=str(d / 'data'), overrides=ov),
                           d / 'runs' / 'domains-study' / f'{dom}-{m}' / 'run', progress=False)
    return d


def test_study_pieces_on_tiny_runs(tiny_study):
    "The study's analysis on tiny runs: both matrices, headline, diagonal, answers, curves, runs, summary, figures."
    from lmresearch.domains import analysis as an
    batch, figs = tiny_study / 'runs' / 'domains-study', tiny_study / 'figures'
    lora = an.write_matrix(batch, figs, 'lora', table='domains-study-matrix')
    qlora = an.write_matrix(batch, figs, 'qlora', table='domains-study-qlora-matrix')
    assert list(lora['table_frame'].index) == ['base', 'medicine adapter', 'ecology adapter']
    assert list(qlora['table_frame'].index) == ['base', 'medicine adapter']
    g = lora['gains']
    assert len(g) == 2 * 4 and g.own.sum() == 2 and ((g.ci_low <= g.gain) & (g.gain <= g.ci_high)).all()
    assert set(lora['diagonal'].adapter) == {'medicine', 'ecology'} and len(lora['diagonal']) == 6
    head = an.headline_table(lora, qlora, n_resamples=200)
    assert list(head.comparison) == ['base -> LoRA', '4-bit base -> QLoRA', 'base -> QLoRA', 'LoRA -> QLoRA']
    assert ((head.ci_low <= head['diff']) & (head['diff'] <= head.ci_high)).all()
    ans = an.answers_table(batch)
    assert list(ans.columns) == ['question', 'reference', 'base', 'LoRA', 'QLoRA'] and len(ans) == 2
    curves = an.learning_curves(batch)
    assert set(curves.job) == {'medicine lora', 'medicine qlora', 'ecology lora'}
    assert curves.step.max() == 4 and (curves.step == 0).sum() == 3 * 2          # step 0: the base, train and valid
    runs = an.runs_table(batch)
    assert len(runs) == 3 and (runs.steps == 4).all() and (runs['train CPU s'] > 0).all()
    lines = an.study_lines(head, lora['diagonal'], runs)
    assert lines[0].startswith('CPU study:') and '95% CI' in lines[0] and len(lines) == 3
    made = an.make_figures(tiny_study / 'runs', out_dir=figs, only='domains-study-')
    assert list(made.status) == ['made', 'made']
    assert {p.name for p in figs.iterdir()} >= {'domains-study-matrix.md', 'domains-study-curves.png',
                                                 'domains-study-heatmap.pdf', 'domains-study-qlora-matrix.tex'}


def test_cli_matrix(tiny_study, capsys):
    ap = argparse.ArgumentParser(prog='lmr'); add_commands(ap.add_subparsers(dest='command'))
    for step in ([], ['prepare'], ['fetch'], ['matrix']):                 # every help text formats
        with pytest.raises(SystemExit): ap.parse_args(['domains', *step, '--help'])
    capsys.readouterr()
    a = ap.parse_args(['domains', 'matrix', str(tiny_study / 'runs' / 'domains-study'), '--figures',
                       str(tiny_study / 'cli-figures'), '--max-examples', '3'])
    assert a.fn(a) == 0
    out = capsys.readouterr().out
    assert 'medicine adapter' in out and 'own' in out and (tiny_study / 'cli-figures' / 'domains-matrix.md').is_file()
