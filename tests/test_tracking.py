"Crash safety, markers, sinks and listing of lmresearch.tracking runs (what does not fit the notebook)."
import json, math, os, signal, subprocess, sys, textwrap, time, types, warnings
from pathlib import Path

import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from lmresearch.core import LMRError
from lmresearch.tracking import Run, TrackingError, find_runs, git_info, read_jsonl

ROOT = Path(__file__).resolve().parents[1]

def _py(code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    return subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

def _lines(p: Path) -> int:
    return p.read_bytes().count(b'\n') if p.exists() else 0

def test_sigkill_while_logging_leaves_readable_metrics(tmp_path):
    d = tmp_path / 'killed'
    proc = _py(f'''
        from lmresearch.tracking import Run
        run = Run.create({str(d)!r}, tensorboard=False)
        step = 0
        while True:
            run.log({{'loss': 1 / (step + 1), 'pad': 'x' * 20000}}, step=step)   # long lines: more bytes in flight
            step += 1
        ''')
    m = d / 'metrics.jsonl'
    t0 = time.time()
    while _lines(m) < 40:
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() - t0 < 60, 'child logged too slowly'
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL); proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    run = Run.open(d)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')          # a torn last line, if the kill landed mid-write
        steps = [r['step'] for r in run.read_metrics()]
    assert len(steps) >= 40 and steps == list(range(len(steps)))
    assert run.status == 'running' and run.metadata['end_time'] is None
    # resuming appends cleanly after whatever the kill left
    run.log({'loss': 0.0}, step=len(steps))
    assert [r['step'] for r in read_jsonl(m)] == list(range(len(steps) + 1))
    assert m.read_bytes().endswith(b'\n') and run.metadata['resumes'][0]['from_status'] == 'running'

def test_torn_last_line_is_skipped_then_repaired(tmp_path):
    run = Run.create(tmp_path / 'r', tensorboard=False)
    for s in range(3): run.log({'loss': float(s)}, step=s)
    with open(run.path('metrics.jsonl'), 'ab') as f: f.write(b'{"step": 3, "loss": 0.12')
    with pytest.warns(UserWarning, match=r'metrics.jsonl:4: skipping a torn last line'):
        assert [r['step'] for r in Run.open(run.dir).read_metrics()] == [0, 1, 2]
    again = Run.open(run.dir)
    again.log({'loss': 3.0}, step=3)
    with warnings.catch_warnings():
        warnings.simplefilter('error')          # no torn line any more
        rows = again.read_metrics()
    assert [(r['step'], r['loss']) for r in rows] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]

def test_corrupt_middle_line_names_file_and_line(tmp_path):
    run = Run.create(tmp_path / 'r', tensorboard=False)
    run.path('metrics.jsonl').write_text('{"step": 0}\n{"step": 1, oops}\n{"step": 2}\n')
    with pytest.raises(TrackingError, match=r'metrics.jsonl:2: not a JSON line'):
        run.read_metrics()

def test_failed_marker_holds_the_traceback(tmp_path):
    d = tmp_path / 'fails'
    proc = _py(f'''
        from lmresearch.tracking import Run
        def train(run):
            run.log({{'loss': 1.0}}, step=0)
            return 1 / 0
        with Run.create({str(d)!r}, tensorboard=False) as run:
            train(run)
        ''')
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and 'ZeroDivisionError' in err
    run = Run.open(d)
    assert run.status == 'failed' and not run.path('COMPLETED').exists()
    text = run.path('FAILED').read_text()
    assert 'Traceback (most recent call last)' in text and 'in train' in text
    assert text.rstrip().endswith('ZeroDivisionError: division by zero')
    md = run.metadata
    assert md['end_time'] and md['duration_s'] >= 0 and md['argv'][0] == '-c'

def test_keyboard_interrupt_is_recorded_and_reraised(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with Run.create(tmp_path / 'r', tensorboard=False) as run:
            raise KeyboardInterrupt
    assert run.status == 'failed' and 'KeyboardInterrupt' in run.path('FAILED').read_text()

def test_completed_marker_is_written_last(tmp_path, monkeypatch):
    run = Run.create(tmp_path / 'r', tensorboard=False)
    order = []
    import lmresearch.tracking as T
    real = T.atomic_write_text
    monkeypatch.setattr(T, 'atomic_write_text', lambda p, t: (order.append(Path(p).name), real(p, t))[1])
    real_json = T.atomic_write_json
    monkeypatch.setattr(T, 'atomic_write_json', lambda p, o, *a: (order.append(Path(p).name), real_json(p, o, *a))[1])
    run.finish(acc=0.5)
    assert order[-1] == 'COMPLETED' and set(order[:-1]) == {'summary.json', 'metadata.json'}

def test_outside_git_or_without_git_fields_are_null(tmp_path, monkeypatch):
    nulls = {'commit': None, 'branch': None, 'dirty': None, 'diff_hash': None}
    monkeypatch.setenv('LMR_ROOT', str(tmp_path))
    run = Run.create(tmp_path / 'r', tensorboard=False)
    assert run.metadata['git'] == nulls
    monkeypatch.delenv('LMR_ROOT')
    monkeypatch.setenv('PATH', str(tmp_path))            # no git binary at all
    assert git_info(ROOT) == nulls

def test_git_info_in_this_checkout():
    if not (ROOT / '.git').exists(): pytest.skip('not a git checkout')
    gi = git_info(ROOT)
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert gi['commit'] == head and isinstance(gi['dirty'], bool) and len(gi['diff_hash']) == 8

class _FakeWandb(types.ModuleType):
    def __init__(self):
        super().__init__('wandb'); self.calls = []
    def init(self, **kw):
        self.calls.append(('init', kw)); fake = self
        class R:
            def log(self, d, step=None): fake.calls.append(('log', d, step))
            def finish(self, exit_code=0): fake.calls.append(('finish', exit_code))
        return R()

def test_wandb_offline_by_default_and_only_when_asked(tmp_path, monkeypatch):
    fake = _FakeWandb(); monkeypatch.setitem(sys.modules, 'wandb', fake)
    run = Run.create(tmp_path / 'plain', tensorboard=False)
    run.log({'loss': 1.0}, step=0); run.finish()
    assert fake.calls == []                                 # not asked: never touched
    run = Run.create(tmp_path / 'w', config={'name': 'x', 'tracking': {'wandb': True, 'tensorboard': False}})
    run.log({'loss': float('nan'), 'tag': 'a'}, step=5); run.fail(RuntimeError('x'))
    (_, kw), log, fin = fake.calls
    assert kw['mode'] == 'offline' and kw['dir'] == str(run.dir) and kw['name'] == 'x' and kw['config']['tracking']['wandb']
    assert log == ('log', {'loss': None, 'tag': 'a'}, 5) and fin == ('finish', 1)

def test_wandb_asked_but_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'wandb', None)         # makes `import wandb` raise ImportError
    with pytest.raises(TrackingError, match='wandb package is not installed'):
        Run.create(tmp_path / 'w', wandb=True)
    assert not (tmp_path / 'w').exists()
    assert isinstance(TrackingError('x'), LMRError)

def test_tensorboard_switch_and_independent_runs(tmp_path):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    a = Run.create(tmp_path / 'a', config={'tracking': {'tensorboard': True}})
    b = Run.create(tmp_path / 'b', config={'tracking': {'tensorboard': False}})
    for s in range(3):
        a.log({'loss': 1.0 + s}, step=s); b.log({'loss': 10.0 + s}, step=s)
    a.finish(); b.finish()
    assert not b.path('tb').exists() and [r['loss'] for r in b.read_metrics()] == [10.0, 11.0, 12.0]
    ea = EventAccumulator(str(a.path('tb'))); ea.Reload()
    assert [(e.step, e.value) for e in ea.Scalars('loss')] == [(0, 1.0), (1, 2.0), (2, 3.0)]

def test_exist_ok_starts_over_but_keeps_foreign_files(tmp_path):
    run = Run.create(tmp_path / 'r', tensorboard=False)
    run.log({'loss': 1.0}, step=0); run.finish(best=1.0)
    run.path('notebook.ipynb').write_text('{}')
    with pytest.raises(LMRError, match='not empty'):
        Run.create(run.dir)
    new = Run.create(run.dir, exist_ok=True, tensorboard=False)
    assert new.status == 'running' and new.read_metrics() == [] and new.summary == {}
    assert new.path('notebook.ipynb').exists()

def test_find_runs_ignores_foreign_metadata(tmp_path):
    Run.create(tmp_path / 'sweep' / 'a', config={'name': 'a'}, tensorboard=False).finish(loss=1.0)
    Run.create(tmp_path / 'sweep' / 'b', config={'name': 'b'}, tensorboard=False).fail(ValueError('bad'))
    (tmp_path / 'sweep' / 'ckpt').mkdir(); (tmp_path / 'sweep' / 'ckpt' / 'metadata.json').write_text('{"other": 1}')
    (tmp_path / 'bad').mkdir(); (tmp_path / 'bad' / 'metadata.json').write_text('{not json')
    df = find_runs(tmp_path)
    assert list(df['name']) == ['a', 'b'] and list(df['status']) == ['completed', 'failed']
    assert df.loc[0, 'loss'] == 1.0 and math.isnan(df.loc[1, 'loss'])

_metric = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(-2**53, 2**53),
                    st.text(max_size=20), st.booleans(), st.none())

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in ('step', 'time')), _metric, max_size=4),
                     min_size=1, max_size=8),
       keep=st.integers(-1, 8))
def test_log_read_rewind_roundtrip(tmp_path_factory, rows, keep):
    run = Run.create(tmp_path_factory.mktemp('p') / 'r', tensorboard=False)
    for s, m in enumerate(rows): run.log(m, step=s)
    fin = lambda v: None if isinstance(v, float) and not math.isfinite(v) else v
    got = run.read_metrics()
    assert [{k: v for k, v in r.items() if k not in ('step', 'time')} for r in got] == [{k: fin(v) for k, v in m.items()} for m in rows]
    run.rewind(keep)
    assert [r['step'] for r in run.read_metrics()] == list(range(min(keep + 1, len(rows))))
    assert got[:keep + 1] == run.read_metrics()

def test_repair_of_a_torn_line_longer_than_a_read_chunk(tmp_path):
    run = Run.create(tmp_path / 'r', tensorboard=False)
    run.log({'loss': 1.0}, step=0)
    with open(run.path('metrics.jsonl'), 'ab') as f: f.write(b'{"step": 1, "pad": "' + b'x' * 200_000)
    again = Run.open(run.dir); again.log({'loss': 0.5}, step=1)
    assert [(r['step'], r['loss']) for r in read_jsonl(run.path('metrics.jsonl'))] == [(0, 1.0), (1, 0.5)]


def test_run_files_follow_the_umask(tmp_path):
    "Files written through the atomic writer get the user's normal permissions (issue 17 §1), not mkstemp's 0600."
    old = os.umask(0o027)
    try:
        r = Run.create(tmp_path / 'r', config={'seed': 0}, tensorboard=False)
        r.log({'loss': 1.0}, step=0); r.finish(test_loss=1.0)
    finally: os.umask(old)
    modes = {f: oct((r.dir / f).stat().st_mode & 0o777)
             for f in ('config.yaml', 'metadata.json', 'summary.json', 'COMPLETED', 'metrics.jsonl')}
    assert set(modes.values()) == {oct(0o666 & ~0o027)}, modes


def test_offline_wandb_holds_the_metrics(tmp_path, monkeypatch):
    "With the real wandb package (extra `wandb`) and WANDB_MODE=offline, the offline run file holds the logged metrics."
    pytest.importorskip('wandb')
    monkeypatch.setenv('WANDB_MODE', 'offline'); monkeypatch.setenv('WANDB_SILENT', 'true')
    monkeypatch.chdir(tmp_path)
    r = Run.create(tmp_path / 'r', config={'name': 'w', 'seed': 0, 'tracking': {'wandb': True}}, tensorboard=False)
    for s in range(3): r.log({'loss': 1 / (s + 1)}, step=s)
    r.finish()
    files = list((tmp_path / 'r' / 'wandb').glob('offline-run-*/run-*.wandb'))
    assert len(files) == 1, files
    data = files[0].read_bytes()
    assert data.startswith(b':W&B') and b'loss' in data and repr(1 / 3).encode() in data
    assert r.metadata['sinks']['wandb_mode'] == 'offline'
