"""README.md is nbs/index.ipynb's markdown: build one from the other.

    python tools/readme.py            # write README.md from nbs/index.ipynb
    python tools/readme.py --from-md  # (re)build nbs/index.ipynb from README.md
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB, MD = ROOT / 'nbs' / 'index.ipynb', ROOT / 'README.md'

def nb_to_md(nb_path=NB) -> str:
    cells = json.loads(nb_path.read_text(encoding='utf-8'))['cells']
    src = lambda c: ''.join(c['source']) if isinstance(c['source'], list) else c['source']
    return '\n\n'.join(src(c).strip() for c in cells if c['cell_type'] == 'markdown') + '\n'

def md_to_nb(md: str) -> dict:
    blocks, cur = [], []
    for line in md.strip().splitlines():
        if line.startswith('## ') and cur: blocks.append('\n'.join(cur).strip()); cur = []
        cur.append(line)
    blocks.append('\n'.join(cur).strip())
    cells = [{'cell_type': 'markdown', 'metadata': {}, 'source': b} for b in blocks]
    return {'cells': cells, 'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
            'nbformat': 4, 'nbformat_minor': 4}

if __name__ == '__main__':
    if '--from-md' in sys.argv: NB.write_text(json.dumps(md_to_nb(MD.read_text(encoding='utf-8')), indent=1, ensure_ascii=False) + '\n')
    else: MD.write_text(nb_to_md(), encoding='utf-8')
