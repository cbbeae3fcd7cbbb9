"""Every notebook names the project's Jupyter kernel, so JupyterLab opens it ready to run (no "Select Kernel" prompt).

    python tools/kernelspec.py            # write the kernelspec into every nbs/**/*.ipynb that lacks it
    python tools/kernelspec.py --check    # only list the notebooks that lack it; exit 1 if any
    python tools/kernelspec.py FILE...    # only these notebooks

`make export` runs it after nbdev_clean. nbdev_clean keeps `kernelspec` (a default notebook metadata key) and sets its
display_name to its name, so the kernelspec is written in that form and cleaning leaves it unchanged. The kernel is
`lmresearch.batch.KERNEL`, the one batch jobs run in and `make lab` registers (`batch.ensure_kernel`).
"""
import argparse, sys
from pathlib import Path

from execnb.nbio import read_nb, write_nb

from lmresearch.batch import KERNEL
from lmresearch.core import show_paths

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {'display_name': KERNEL, 'language': 'python', 'name': KERNEL}


def notebooks(root: Path = ROOT) -> list[Path]:
    "The project's notebooks: nbs/**/*.ipynb, without checkpoints and drafts."
    return sorted(p for p in (root / 'nbs').rglob('*.ipynb') if not {'.ipynb_checkpoints', '.drafts'} & set(p.parts))


def lacks_kernelspec(path: Path) -> bool:
    "Whether the notebook at `path` names another kernel than the project's, or none."
    return dict(read_nb(path).metadata.get('kernelspec') or {}) != KERNELSPEC


def add_kernelspec(path: Path) -> bool:
    "Write the project's kernelspec into the notebook at `path` if it lacks it; True if the file changed."
    if not lacks_kernelspec(path): return False
    nb = read_nb(path)
    nb.metadata['kernelspec'] = dict(KERNELSPEC)
    write_nb(nb, path)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('files', nargs='*', type=Path, help='notebooks (default: every nbs/**/*.ipynb)')
    ap.add_argument('--check', action='store_true', help='list the notebooks without the kernelspec; change nothing')
    a = ap.parse_args(argv)
    files = a.files or notebooks()
    if a.check:
        bad = [f for f in files if lacks_kernelspec(f)]
        for f in bad: print(f'{show_paths(f.resolve(), ROOT)}: no kernelspec {KERNEL!r} (run `make export`)')
        return 1 if bad else 0
    changed = [f for f in files if add_kernelspec(f)]
    if changed: print(f'kernelspec {KERNEL!r} written into {len(changed)} notebooks')
    return 0


if __name__ == '__main__':
    sys.exit(main())
