"The `lmr` console script, as a user runs it."
import json, os, subprocess, sys
from pathlib import Path

BIN = Path(sys.executable).parent

def lmr(*args, **kw):
    return subprocess.run([str(BIN / 'lmr'), *args], capture_output=True, text=True, timeout=600, **kw)

def test_info_reports_hardware_and_assets():
    r = lmr('info')
    assert r.returncode == 0, r.stderr
    assert 'bf16 matrix units' in r.stdout and 'smollm2-135m' in r.stdout and 'gpt2-tokenizer' in r.stdout

def test_info_json():
    r = lmr('info', '--json')
    info = json.loads(r.stdout)
    assert info['system']['cores'] == os.cpu_count()
    names = {a['name'] for a in info['assets']}
    assert {'smollm2-135m', 'gpt2-tokenizer', 'minilm-l6'} <= names
    assert all(a['installed'] for a in info['assets']), info['assets']

def test_no_command_prints_help():
    r = lmr()
    assert r.returncode == 1 and 'usage: lmr' in r.stdout

def test_user_error_is_one_line_exit_2(tmp_path):
    r = lmr('train', str(tmp_path / 'missing.yaml'), '--run-dir', str(tmp_path / 'run'))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert 'missing.yaml' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path / 'run').exists()

SENTENCES = ['I like my dog.', 'She goes to school every day.', 'We ate rice and fish for dinner.',
             'The museum opened a new exhibition about ancient trade routes.',
             'Although the weather was poor, the hikers reached the summit before noon.',
             'Economists disagree about whether the policy will curb inflation in the long run.',
             'My brother plays football on Sunday.', 'The committee postponed its decision pending further review.']

def test_ilm_prepare_and_mask(tmp_path):
    import csv
    with open(tmp_path / 'ef.csv', 'w', newline='') as f:
        w = csv.writer(f); w.writerow(['text', 'cefr', 'nationality'])
        for i in range(200):
            w.writerow([f'{SENTENCES[i % 8]} {SENTENCES[(i * 3 + 1) % 8]} (text {i})', ['A1', 'a2', '3', 'B2', 'C1'][i % 5], 'br' if i % 3 else 'cn'])
        w.writerow(['   ', 'A1', 'br'])
    r = lmr('ilm', 'prepare', '--csv', str(tmp_path / 'ef.csv'), '--out', str(tmp_path / 'prep'), '--seed', '1')
    assert r.returncode == 0, r.stderr
    stats = json.loads((tmp_path / 'prep' / 'stats.json').read_text())
    assert {p.name for p in (tmp_path / 'prep').glob('*.txt')} == {'train.txt', 'valid.txt', 'test.txt'}
    assert stats['skipped']['empty_text'] == 1 and sum(stats['documents'].values()) == 200
    assert stats['levels_found'] == {'A1': 40, 'A2': 40, 'B1': 40, 'B2': 40, 'C1': 40}  # 'a2' and '3' normalised
    assert 'train' in r.stdout and 'stats.json' in r.stdout
    r = lmr('ilm', 'mask', '--in', str(tmp_path / 'prep'), '--out', str(tmp_path / 'mask'), '--per-doc', '4', '--seed', '3')
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'mask' / 'train.parquet').exists() and 'mask rate' in r.stdout
    r = lmr('ilm', 'prepare', '--csv', str(tmp_path / 'ef.csv'), '--out', str(tmp_path / 'p2'), '--level', 'Z9')
    assert r.returncode == 2 and 'Z9' in r.stderr

def test_train_cli_runs_and_refuses_bad_resume(tmp_path):
    cfg = tmp_path / 'smoke.yaml'
    cfg.write_text('preset: tiny\nname: cli-smoke\ndata:\n  train: corpus:lee-news\n  max_docs: 40\n'
                   'train:\n  max_steps: 4\n  eval_every: 2\n  seq_len: 32\n')
    r = lmr('train', str(cfg), '--run-dir', str(tmp_path / 'run'), '--set', 'train.batch_size=4')
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / 'run' / 'summary.json').read_text())
    assert summary['steps'] == 4 and (tmp_path / 'run' / 'COMPLETED').exists()
    assert (tmp_path / 'run' / 'model' / 'config.json').exists()
    r = lmr('train', str(cfg), '--run-dir', str(tmp_path / 'nowhere'), '--resume')
    assert r.returncode == 2 and 'nowhere' in r.stderr and not (tmp_path / 'nowhere').exists()
    r = lmr('train', str(cfg), '--run-dir', str(tmp_path / 'run'))        # would overwrite a finished run
    assert r.returncode == 2 and 'not empty' in r.stderr

def test_demo_smoke_end_to_end(tmp_path):
    "`lmr demo --smoke --quick`: corpora, a two-job papermill batch, the figure and table, and the site."
    r = lmr('demo', '--smoke', '--quick', '--out', str(tmp_path))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = (tmp_path / 'runs' / 'smoke' / 'results.csv').read_text().splitlines()
    assert len(res) == 3 and all(',completed,' in line for line in res[1:])
    assert (tmp_path / 'figures' / 'smoke-learning-curves.png').exists() and (tmp_path / 'figures' / 'smoke-results.md').exists()
    assert (tmp_path / '_site' / 'index.html').exists()
    assert 'lee-news' in r.stdout and 'demo done in' in r.stdout
