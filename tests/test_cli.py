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
