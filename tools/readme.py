"""README.md is nbs/index.ipynb rendered as Markdown (nbdev_readme does this, but needs Quarto, which cannot be
installed here). Markdown cells as they are; code cells as Python blocks followed by their text output.

    python tools/readme.py            # write README.md from nbs/index.ipynb
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB, MD = ROOT / 'nbs' / 'index.ipynb', ROOT / 'README.md'

def _text(v) -> str: return ''.join(v) if isinstance(v, list) else (v or '')

def _cell_md(c: dict) -> str:
    if c['cell_type'] == 'markdown': return _text(c['source']).strip()
    if c['cell_type'] != 'code' or _text(c['source']).lstrip().startswith('#| hide'): return ''
    out = ['```python\n' + _text(c['source']).strip() + '\n```']
    for o in c.get('outputs', []):
        if o.get('name') == 'stderr': continue                      # progress bars and warnings stay in the notebook
        t = _text(o.get('text') if o.get('output_type') == 'stream' else o.get('data', {}).get('text/plain'))
        if t.strip(): out.append('```\n' + t.rstrip() + '\n```')
    return '\n\n'.join(out)

def nb_to_md(nb_path=NB) -> str:
    cells = json.loads(nb_path.read_text(encoding='utf-8'))['cells']
    return '\n\n'.join(m for m in map(_cell_md, cells) if m) + '\n'

if __name__ == '__main__':
    MD.write_text(nb_to_md(), encoding='utf-8')
