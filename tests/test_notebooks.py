"""What a reader sees in the committed notebooks: no machine path or warning in an output, the project's kernel named.

The output rule is the one of the before-stop hook (section 2): an output holds a machine path when it names a home
folder (/home/, /Users/, /root/), a temporary folder other than tempfile's default `tmp...` ones, or the folder the
checkout sits in; a stderr output that says `Warning` is a warning. Offenders are listed with their cell and the text.
"""
import json, os, re, shutil, subprocess, sys, tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import kernelspec  # noqa: E402  (tools/kernelspec.py)

_PARENT = os.path.dirname(str(ROOT))   # the folder the checkout sits in; under the temp folder, /tmp/(?!tmp) covers it
MACHINE_PATH = re.compile(r'(/home/|/Users/|/root/|/tmp/(?!tmp)'
                          + ('' if _PARENT == tempfile.gettempdir() else '|' + re.escape(_PARENT) + '/') + ')')


def output_problems(path: Path) -> list[str]:
    "'cell N: machine path ...' or 'cell N: warning ...' for each output cell of notebook `path` that breaks the rule."
    bad = []
    for i, c in enumerate(json.loads(path.read_text(encoding='utf-8'))['cells']):
        for o in c.get('outputs', []):
            t = json.dumps(o)
            if m := MACHINE_PATH.search(t):
                bad.append(f'cell {i}: machine path {t[max(0, m.start() - 40):m.end() + 40]!r}'); break
            if o.get('name') == 'stderr' and 'Warning' in t:
                bad.append(f'cell {i}: warning {t[t.index("Warning") - 60:][:160]!r}'); break
    return bad


def test_output_rule_finds_paths_and_warnings(tmp_path):
    out = lambda name, text: [{'output_type': 'stream', 'name': name, 'text': text}]
    cells = [out('stdout', 'ok'), [{'output_type': 'execute_result', 'data': {'text/plain': f"Path('{ROOT}/runs')"}}],
             out('stderr', 'x.py:3: FutureWarning: old'), out('stdout', '/tmp/tmpab12/x and runs/smoke')]
    nb = {'cells': [{'cell_type': 'code', 'source': '', 'outputs': o} for o in cells], 'metadata': {}, 'nbformat': 4,
          'nbformat_minor': 5}
    (tmp_path / 'a.ipynb').write_text(json.dumps(nb))
    got = output_problems(tmp_path / 'a.ipynb')
    assert [g.split(':')[0] + ':' + g.split(':')[1].split()[0] for g in got] == ['cell 1:machine', 'cell 2:warning']


def test_committed_outputs_hold_no_machine_path_or_warning():
    "Every committed notebook (nbs/**/*.ipynb): its outputs read the same on every machine and keep no warning."
    bad = [f'{p.relative_to(ROOT)} {b}' for p in kernelspec.notebooks(ROOT) for b in output_problems(p)]
    assert not bad, (f'{len(bad)} output cells hold a machine path or a warning (show paths with core.show_paths, '
                     'fix the warning\'s cause, re-execute the notebook):\n' + '\n'.join(bad))


def test_every_notebook_names_the_project_kernel():
    bad = [str(p.relative_to(ROOT)) for p in kernelspec.notebooks(ROOT) if kernelspec.lacks_kernelspec(p)]
    assert not bad, f'{len(bad)} notebooks lack the kernelspec {kernelspec.KERNEL!r} (make export):\n' + '\n'.join(bad)


def test_kernelspec_tool_adds_it_and_nbdev_clean_keeps_it(tmp_path):
    "`make export`'s last step adds the kernelspec where it is missing; nbdev_clean, then a rerun, change nothing."
    nb = tmp_path / 'x.ipynb'
    shutil.copy(ROOT / 'tests' / 'notebooks' / 'toy.ipynb', nb)
    data = json.loads(nb.read_text()); data['metadata'].pop('kernelspec', None); nb.write_text(json.dumps(data))
    assert kernelspec.lacks_kernelspec(nb)
    r = subprocess.run([sys.executable, ROOT / 'tools/kernelspec.py', '--check', nb], capture_output=True, text=True)
    assert r.returncode == 1 and "no kernelspec 'lmresearch'" in r.stdout
    assert kernelspec.add_kernelspec(nb) and not kernelspec.add_kernelspec(nb)
    before = nb.read_bytes()
    clean = Path(sys.executable).parent / 'nbdev_clean'
    r = subprocess.run([clean, '--fname', nb], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert nb.read_bytes() == before
    spec = json.loads(before)['metadata']['kernelspec']
    assert spec == {'display_name': 'lmresearch', 'language': 'python', 'name': 'lmresearch'}


def parameter_warnings(path: Path) -> list[str]:
    "papermill's warnings on the parameters cell of notebook `path` (a line it cannot parse is not seen as a parameter)."
    import logging, papermill as pm
    got = []
    class Keep(logging.Handler):
        def emit(self, r): got.append(r.getMessage())
    log, h = logging.getLogger('papermill'), Keep(level=logging.WARNING)
    log.addHandler(h)
    try: pm.inspect_notebook(str(path))
    finally: log.removeHandler(h)
    return got


def test_parameter_rule_finds_an_unparsable_line(tmp_path):
    "An '=' inside a parameter's comment breaks papermill's parser: the line is dropped with a warning."
    nb = json.loads((ROOT / 'tests' / 'notebooks' / 'toy.ipynb').read_text())
    nb['cells'].insert(0, {'id': 'params', 'cell_type': 'code', 'source': "n = 3  # docs kept; 0 = all\nm = 2  # docs kept, 0 for all",
                           'metadata': {'tags': ['parameters']}, 'outputs': [], 'execution_count': None})
    (tmp_path / 'p.ipynb').write_text(json.dumps(nb))
    got = parameter_warnings(tmp_path / 'p.ipynb')
    assert len(got) == 1 and "line 1 'n = 3" in got[0], got


def test_experiment_parameters_parse_in_papermill():
    """Each experiment notebook's parameters cell: papermill parses every line (no '=' in a comment) and sees the same
    parameters as the batch runner (`batch.notebook_parameters`), so no value it is given is reported as unknown."""
    import papermill as pm
    from lmresearch.batch import notebook_parameters
    bad = []
    for p in sorted((ROOT / 'nbs' / 'experiments').glob('*.ipynb')):
        bad += [f'{p.relative_to(ROOT)}: {w}' for w in parameter_warnings(p)]
        seen, ours = set(pm.inspect_notebook(str(p))), set(notebook_parameters(p))
        if seen != ours: bad.append(f'{p.relative_to(ROOT)}: papermill sees {sorted(seen ^ ours)} differently')
    assert not bad, f'{len(bad)} parameter problems papermill would report:\n' + '\n'.join(bad)
