"Invariants of the repository itself: safe serialisation, pinned installs, nbdev settings."
import configparser, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = sorted((ROOT / 'lmresearch').rglob('*.py'))

def test_library_exists():
    assert (ROOT / 'lmresearch' / 'core.py') in LIB and len(LIB) >= 3

def test_no_pickle_in_library():
    bad = []
    for p in LIB:
        for i, line in enumerate(p.read_text(encoding='utf-8').splitlines(), 1):
            code = line.split('#', 1)[0]
            if re.search(r'\b(import\s+(c?pickle|dill|joblib)|from\s+(c?pickle|dill|joblib)\b|pickle\.|joblib\.)', code):
                bad.append(f'{p.name}:{i}: {line.strip()}')
            if 'torch.load(' in code and 'weights_only=True' not in code:
                bad.append(f'{p.name}:{i}: torch.load without weights_only=True')
    assert not bad, '\n'.join(bad)

def test_settings_keep_cell_tags_and_console_script():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    d = cfg['DEFAULT']
    assert 'tags' in d['allowed_cell_metadata_keys'].split()
    assert d['console_scripts'].startswith('lmr=lmresearch.cli:main')

def test_installs_use_the_constraints_file():
    pins = (ROOT / 'constraints.txt').read_text()
    for pin in ('nbdev==2.4.14', 'execnb<0.2', 'fastcore<2', 'ghapi<2', 'torch==2.13.0'):
        assert pin in pins
    make = (ROOT / 'Makefile').read_text()
    assert re.search(r'install -c constraints.txt', make)
    assert 'make test' in (ROOT / '.ci' / 'run').read_text()

def test_readme_is_index_notebook():
    sys.path.insert(0, str(ROOT / 'tools'))
    from readme import nb_to_md
    assert nb_to_md() == (ROOT / 'README.md').read_text(encoding='utf-8')
    assert 'make demo' in nb_to_md() and 'make test' in nb_to_md()

def test_installed_versions_match_pins():
    import nbdev, fastcore, torch
    assert nbdev.__version__ == '2.4.14'
    assert int(fastcore.__version__.split('.')[0]) < 2
    assert torch.__version__.startswith('2.13.0')

def test_readme_maps_every_notebook_to_its_module():
    "The README's notebook table lists each numbered notebook with the module it exports (none forgotten, none stale)."
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    listed = dict(re.findall(r'^\| `(\d\d_\w+\.ipynb)` \| `lmresearch\.([\w.]+)` \|', readme, re.M))
    want = {}
    for nb in sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb')):
        m = re.search(r'#\|\s*default_exp\s+([\w.]+)', nb.read_text(encoding='utf-8'))
        if m: want[nb.name] = m.group(1)
    assert listed == want

def test_makefile_phony_targets_have_recipes_and_help():
    make = (ROOT / 'Makefile').read_text()
    phony = re.search(r'^\.PHONY:(.*)$', make, re.M).group(1).split()
    help_text = make[make.index('help:'):make.index('venv:')]
    for t in phony:
        assert re.search(rf'^{re.escape(t)}:', make, re.M), f'.PHONY target {t} has no rule'
        assert t == 'help' or t in help_text, f'make help does not mention {t}'

def _long_lines(paths, skip=lambda line: False):
    return [f'{p.relative_to(ROOT)}:{i}: {len(l)} chars' for p in paths
            for i, l in enumerate(p.read_text(encoding='utf-8').splitlines(), 1) if len(l) > 120 and not skip(l)]

def test_library_lines_fit_in_120_characters():
    "No library line over 120 characters; `_modidx.py` and the first line of `__all__` are nbdev's own output."
    assert not _long_lines([p for p in LIB if p.name != '_modidx.py'], skip=lambda l: l.startswith('__all__ = '))

def test_notebook_code_lines_fit_in_120_characters():
    import json
    bad = []
    for nb in sorted((ROOT / 'nbs').rglob('*.ipynb')):
        if '.drafts' in nb.parts or '.ipynb_checkpoints' in nb.parts: continue
        for k, c in enumerate(json.loads(nb.read_text(encoding='utf-8'))['cells']):
            if c['cell_type'] != 'code': continue
            bad += [f'{nb.relative_to(ROOT)} cell {k}: {len(l)} chars' for l in ''.join(c['source']).splitlines()
                    if len(l) > 120]
    assert not bad, '\n'.join(bad)

def test_notebooks_import_only_lower_numbered_notebooks():
    "The library of a notebook never imports a higher-numbered notebook's module (DESIGN.md: layers, then lines)."
    import json
    nbs = sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb'))
    num = {}
    for nb in nbs:
        m = re.search(r'#\|\s*default_exp\s+([\w.]+)', nb.read_text(encoding='utf-8'))
        if m: num['lmresearch.' + m.group(1)] = int(nb.name[:2])
    bad = []
    for nb in nbs:
        src = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text(encoding='utf-8'))['cells']
                        if c['cell_type'] == 'code' and re.match(r'#\|\s*exports?\b', ''.join(c['source'])))
        for mod in set(re.findall(r'^\s*(?:from|import)\s+(lmresearch(?:\.\w+)+)', src, re.M)):
            if num.get(mod, 0) > int(nb.name[:2]): bad.append(f'{nb.name} imports {mod} ({num[mod]:02d})')
    assert not bad, '\n'.join(sorted(bad))

def _public_callables(mod):
    "`(qualified name, function)` of each public function of `mod` and each public method of its public classes."
    import inspect
    for name in getattr(mod, '__all__', []):
        obj = getattr(mod, name, None)
        if inspect.isfunction(obj) and obj.__module__ == mod.__name__: yield f'{mod.__name__}.{name}', obj
        elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
            for k, v in vars(obj).items():           # @patch methods are in the class's namespace too
                f = v.__func__ if isinstance(v, (classmethod, staticmethod)) else v
                written = inspect.isfunction(f) and Path(f.__code__.co_filename).is_file()  # not made by @dataclass
                if written and (not k.startswith('_') or k == '__init__'):
                    yield f'{mod.__name__}.{name}.{k}', f

def test_public_functions_document_every_parameter():
    "A public function or method with four or more parameters has a docments comment on each (fastcore's `docments`)."
    import importlib, inspect
    from fastcore.docments import docments
    bad = []
    for p in LIB:
        if p.name in ('_modidx.py', '__init__.py'): continue
        mod = importlib.import_module('.'.join(p.relative_to(ROOT).with_suffix('').parts))
        for qual, f in _public_callables(mod):
            params = [n for n in inspect.signature(f).parameters if n not in ('self', 'cls')]
            if len(params) < 4: continue
            doc = docments(f, args_kwargs=True)
            miss = [n for n in params if not doc.get(n)]
            if miss: bad.append(f'{qual} ({len(params)} parameters): no comment on {", ".join(miss)}')
    assert not bad, f'{len(bad)} functions:\n' + '\n'.join(bad)

_EXP = re.compile(r'^#\s*\|\s*exports?\b(?!_)'); _DIR = re.compile(r'^\s*#\s*\|')

def _src(c) -> str: return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def _exported(c) -> bool:
    return c['cell_type'] == 'code' and any(_EXP.match(l.strip()) for l in _src(c).splitlines() if _DIR.match(l))

def _shows(c) -> bool:
    "A code cell that is not exported and calls something or shows a value (the before-stop hook's definition)."
    import ast
    if c['cell_type'] != 'code' or _exported(c): return False
    s = '\n'.join('pass' if l.lstrip().startswith(('%', '!')) else l for l in _src(c).splitlines())
    try: t = ast.parse(s)
    except SyntaxError: return bool(re.search(r'\w\(', s))
    return any(isinstance(n, ast.Call) for n in ast.walk(t)) or any(isinstance(n, ast.Expr) for n in t.body)

def undemonstrated_runs(nbs=None) -> list[tuple[int, str, int]]:
    "(length, notebook, first cell) of each run of more than 4 exported cells with no cell that calls what they define."
    import json
    runs = []
    for p in nbs or sorted((ROOT / 'nbs').rglob('*.ipynb')):
        if '.drafts' in p.parts or '.ipynb_checkpoints' in p.parts: continue
        cur, start = 0, 0
        for i, c in enumerate(json.loads(p.read_text(encoding='utf-8'))['cells']):
            if _exported(c): start = i if cur == 0 else start; cur += 1
            elif _shows(c):
                if cur > 4: runs.append((cur, str(p.relative_to(ROOT)), start))
                cur = 0
        if cur > 4: runs.append((cur, str(p.relative_to(ROOT)), start))
    return sorted(runs, reverse=True)

def test_every_run_of_exported_cells_is_demonstrated():
    "No run of more than 4 exported cells without a cell that calls what they define (issue 18; the hook's rule)."
    runs = undemonstrated_runs()
    assert not runs, f'{len(runs)} runs:\n' + '\n'.join(f'{p} from cell {i}: {n} exported cells' for n, p, i in runs)

def long_functions(limit: int = 40) -> list[tuple[int, str]]:
    "(body lines, qualified name) of each library function whose body (docstring not counted) is over `limit` lines."
    import ast
    out = []
    for p in LIB:
        if p.name == '_modidx.py': continue
        for n in ast.walk(ast.parse(p.read_text(encoding='utf-8'))):
            if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)): continue
            body = n.body[1:] if (n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
                                  and isinstance(n.body[0].value.value, str)) else n.body
            k = body[-1].end_lineno - body[0].lineno + 1 if body else 0
            if k > limit: out.append((k, f'{p.relative_to(ROOT)}:{n.name}'))
    return sorted(out, reverse=True)

def test_at_most_four_functions_over_40_body_lines():
    "Function bodies stay short: at most 4 in the whole library over 40 lines (issue 18), each split into named steps."
    long = long_functions()
    assert len(long) <= 4, f'{len(long)} functions over 40 body lines:\n' + '\n'.join(f'{k} {q}' for k, q in long)
