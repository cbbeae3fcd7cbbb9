"""Fail when the notebooks and the library disagree (nbdev has no such check: its CI recipe is `nbdev_clean` then
`git diff`, which needs a clean tree; this compares the files before and after, committed or not).

Runs `nbdev_export` and `nbdev_clean` and compares every file under `lmresearch/` and `nbs/` before and after. Any
change means a notebook was edited without exporting or cleaning (or the library was edited by hand): the changed files
are listed and the exit status is 1. (README.md against nbs/index.ipynb is checked by tests/test_repo.py.)
"""
import hashlib, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def snapshot():
    files = [p for d in ('lmresearch', 'nbs') for p in (ROOT / d).rglob('*')
             if p.is_file() and p.suffix in ('.py', '.ipynb') and '.ipynb_checkpoints' not in p.parts
             and '.drafts' not in p.parts and '__pycache__' not in p.parts]
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

def main():
    before = snapshot()
    for cmd in ('nbdev_export', 'nbdev_clean'):
        r = subprocess.run([str(BIN / cmd)], cwd=ROOT, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f'{cmd} failed:\n{r.stdout}{r.stderr}')
    after = snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        print('Notebooks and library are out of sync: nbdev_export / nbdev_clean changed')
        for k in changed: print('  ' + k + ('' if k in before else ' (new)') + ('' if k in after else ' (deleted)'))
        print('Edit the notebooks, run `make export`, and commit both.')
        sys.exit(1)
    print(f'sync ok: {len(after)} notebooks and modules unchanged by nbdev_export and nbdev_clean')

if __name__ == '__main__':
    main()
