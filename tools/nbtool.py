"""Execute notebooks in place, keeping their real outputs (what `make nbs` runs).

    python tools/nbtool.py run nbs/00_core.ipynb [more.ipynb ...]

Each notebook runs top to bottom in a fresh IPython shell, with the notebook's folder as the
working directory, as nbdev_test runs it; cells marked `#| eval: false` are skipped. The first
error stops that notebook, prints the traceback and the exit status is 1; the notebook file is
then left as it was. Cleaned with nbdev_clean afterwards.

Drafting: `jupytext --to py:percent nbs/X.ipynb -o nbs/.drafts/X.py` gives an editable script;
`jupytext --to ipynb nbs/.drafts/X.py -o nbs/X.ipynb` turns it back (nbs/.drafts is ignored).
"""
import os, re, subprocess, sys, time
from pathlib import Path

_EVAL_FALSE = re.compile(r'^\s*#\s*\|\s*eval\s*:\s*false', re.M)

def run(path):
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    path = Path(path).resolve()
    nb = read_nb(path)
    cwd = os.getcwd()
    os.chdir(path.parent)
    t0 = time.time()
    try:
        sh = CaptureShell()
        for cell in nb.cells:
            if cell.cell_type != 'code': continue
            if _EVAL_FALSE.search(cell.source): continue
            sh.cell(cell)
            err = [o for o in cell.get('outputs', []) if o.get('output_type') == 'error']
            if err:
                print(f'{path.name}: error in cell\n{cell.source}\n', file=sys.stderr)
                print('\n'.join(err[0].get('traceback', [])), file=sys.stderr)
                return False
    finally:
        os.chdir(cwd)
    write_nb(nb, path)
    print(f'{path.name}: ran in {time.time() - t0:.1f}s')
    return True

def main(argv):
    if len(argv) < 2 or argv[0] != 'run':
        sys.exit(__doc__)
    ok = all([run(p) for p in argv[1:]])
    for p in argv[1:]:  # clean only what ran: other notebooks may be open in an editor
        subprocess.run([str(Path(sys.executable).parent / 'nbdev_clean'), '--fname', p], check=False)
    sys.exit(0 if ok else 1)

if __name__ == '__main__':
    main(sys.argv[1:])
