"The website: offline build of a small project, links, no CDN, atomic rebuild, fake quarto, a real headless browser."
import base64, html, io, json, os, re, shutil, stat, subprocess, urllib.parse
from pathlib import Path

import nbformat
import pytest
from nbformat import v4
from PIL import Image

from lmresearch.site import SiteError, build_site, page_links, site_problems

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_PKG = 'chromium'   # Debian package: apt-get install -y chromium
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']


def _png(colour: str, size=(120, 80)) -> str:
    buf = io.BytesIO(); Image.new('RGB', size, colour).save(buf, format='PNG')
    return base64.b64encode(buf.getvalue()).decode()


def make_project(d: Path) -> Path:
    "A project: the repo's _quarto.yml, two library notebooks, a batch of two jobs, a paper with a figure and a table."
    (d / 'nbs').mkdir(parents=True); (d / 'papers').mkdir(); (d / 'figures').mkdir()
    shutil.copy(ROOT / '_quarto.yml', d / '_quarto.yml')
    idx = v4.new_notebook()
    home = '# Lab notebook\n> Home page.\n\nSee [core](00_core.ipynb) and [the paper](../papers/chapter.qmd).'
    idx.cells = [v4.new_markdown_cell(home)]
    nbformat.write(idx, d / 'nbs/index.ipynb')
    core = v4.new_notebook()
    core.cells = [v4.new_markdown_cell('# Core\n> Paths and seeds.'), v4.new_code_cell('#| default_exp core'),
                  v4.new_code_cell('#| export\ndef double(x): return 2 * x'),
                  v4.new_code_cell('#| hide\nHIDDEN_SECRET = 1'),
                  v4.new_code_cell('#| echo: false\nECHO_OFF_CODE = 1',
                                   outputs=[v4.new_output('stream', name='stdout', text='shown output\n')]),
                  v4.new_code_cell('print(double(21))', outputs=[v4.new_output('stream', name='stdout', text='42\n')]),
                  v4.new_code_cell('df', outputs=[v4.new_output('execute_result', execution_count=1,
                      data={'text/html': '<table class="dataframe"><tr><th>a</th></tr><tr><td>7</td></tr></table>'
                                         '<script src="https://cdn.example.org/lib.js"></script>',
                                         'text/plain': 'a 7'})])]
    nbformat.write(core, d / 'nbs/00_core.ipynb')
    data = v4.new_notebook(); data.cells = [v4.new_markdown_cell('# Data\n\nBack to [core](00_core.ipynb#core).')]
    nbformat.write(data, d / 'nbs/01_data.ipynb')
    b = d / 'runs' / 'toy'
    for x, status in [(1, 'completed'), (2, 'failed')]:
        j = b / f'x={x}-0000000{x}'; (j / 'run').mkdir(parents=True)
        (j / 'job.json').write_text(json.dumps({'batch': 'toy', 'stage': 'main', 'job_id': j.name,
                                                'notebook': 'nbs/experiments/toy.ipynb',
            'params': {'x': x, 'preset': 'tiny'}, 'varying': {'x': x}, 'status': status, 'duration_s': 2.0 * x,
            'error': 'ZeroDivisionError: division by zero' if status == 'failed' else None}))
        if status == 'completed': (j / 'run/summary.json').write_text(json.dumps({'valid_loss': 1.2345, 'steps': 20}))
        nb = v4.new_notebook()
        tb = ['\x1b[31mZeroDivisionError\x1b[0m']
        out = (v4.new_output('display_data', data={'image/png': _png('#D55E00'), 'text/plain': '<Figure>'})
               if status == 'completed'
               else v4.new_output('error', ename='ZeroDivisionError', evalue='division by zero', traceback=tb))
        nb.cells = [v4.new_markdown_cell('# Toy experiment'),
                    v4.new_code_cell(f'x = {x}', metadata={'tags': ['injected-parameters']}),
                    v4.new_code_cell('plot(x)' if status == 'completed' else '1 / 0', outputs=[out])]
        nbformat.write(nb, j / 'notebook.ipynb')
    (b / 'results.csv').write_text('stage,job_id,status,x,valid_loss\nmain,x=1-00000001,completed,1,1.2345\n'
                                   'main,x=2-00000002,failed,2,\n')
    (d / 'figures' / 'curve.png').write_bytes(base64.b64decode(_png('#0072B2', (300, 200))))
    (d / 'figures' / 'ppl.md').write_text('| model | ppl |\n|---|---:|\n| A1 | 12.30 |\n| general | 13.00 |\n')
    (d / 'papers' / 'chapter.qmd').write_text(
        '---\ntitle: A chapter\nauthor: Somebody\n---\n\n## Results {#sec-res}\n\n'
        '@fig-curve shows the curve and @tbl-ppl the numbers.\n\n'
        '![Validation loss.](../figures/curve.png){#fig-curve}\n\n'
        '{{< include ../figures/ppl.md >}}\n\n: Perplexity per model {#tbl-ppl}\n')
    return d


@pytest.fixture
def site(tmp_path):
    proj = make_project(tmp_path / 'proj')
    return build_site(proj, use_quarto=False)


def test_pages_and_content(site):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html'))
    assert pages == ['index.html', 'nbs/00_core.html', 'nbs/01_data.html', 'papers/chapter.html', 'runs/toy/index.html',
                     'runs/toy/x=1-00000001/notebook.html', 'runs/toy/x=2-00000002/notebook.html']
    core = (site / 'nbs/00_core.html').read_text()
    assert 'HIDDEN_SECRET' not in core and 'ECHO_OFF_CODE' not in core and 'shown output' in core and '#|' not in core
    assert 'default_exp' not in core and 'double' in core and '<td>7</td>' in core and 'cdn.example.org' not in core
    batch = (site / 'runs/toy/index.html').read_text()
    for s in ('2 jobs: 1 completed, 1 failed', 'href="x=1-00000001/notebook.html"', '1.234',
              'ZeroDivisionError: division by zero', 'preset="tiny"'):
        assert s in batch, s
    run = (site / 'runs/toy/x=1-00000001/notebook.html').read_text()
    assert '<img src="notebook_files/fig-1.png"' in run
    assert (site / 'runs/toy/x=1-00000001/notebook_files/fig-1.png').read_bytes()[:4] == b'\x89PNG'
    paper = (site / 'papers/chapter.html').read_text()
    for s in ('<a class="xref" href="#fig-curve">Figure 1</a> shows', '<a class="xref" href="#tbl-ppl">Table 1</a>',
              '<img src="../figures/curve.png"', '<td>general</td>'): assert s in paper, s
    assert (site / 'figures/curve.png').is_file()
    for p in site.rglob('*.html'):   # a sidebar on every page
        assert '<nav class="sidebar">' in p.read_text(), p


def test_links_resolve_and_no_cdn(site):
    assert site_problems(site) == []
    for p in site.rglob('*.html'):
        for tag, attr, url in page_links(p):
            if tag in ('script', 'link', 'img'): assert not url.startswith(('http://', 'https://', '//')), (p, url)
            if url.startswith(('http:', 'https:', 'mailto:', 'data:', '#')): continue
            assert (p.parent / urllib.parse.unquote(url.split('#')[0])).resolve().is_file(), (p, url)


def test_failed_build_keeps_previous_site(site):
    proj = site.parent
    before = {p: p.read_bytes() for p in site.rglob('*') if p.is_file()}
    (proj / 'nbs/02_bad.ipynb').write_text('{"cells": [')
    with pytest.raises(SiteError, match='02_bad.ipynb: not a readable notebook'):
        build_site(proj, use_quarto=False)
    assert {p: p.read_bytes() for p in site.rglob('*') if p.is_file()} == before
    assert not [p for p in proj.iterdir() if p.name.startswith('._site')]


def test_quarto_is_used_when_on_path(tmp_path, monkeypatch):
    "A fake `quarto` on PATH is called as `quarto render` in the project root; the site gets an index.html redirecting."
    proj = make_project(tmp_path / 'proj')
    bin_ = tmp_path / 'bin'; bin_.mkdir()
    fake = bin_ / 'quarto'
    fake.write_text('#!/bin/sh\necho "$@" > "$PWD/quarto-args"\nmkdir -p _site/nbs && echo ok > _site/nbs/index.html\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', f'{bin_}{os.pathsep}{os.environ["PATH"]}')
    out = build_site(proj)
    assert (proj / 'quarto-args').read_text().strip() == 'render'
    assert 'url=nbs/index.html' in (out / 'index.html').read_text()
    assert (proj / 'runs/toy/index.qmd').is_file()   # batch pages are written for quarto too


def _chromium() -> str:
    exe = shutil.which('chromium') or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None)
    if exe: return exe
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        pytest.skip(f'chromium is missing and cannot be installed here (needs root: apt-get install -y {CHROMIUM_PKG})')
    env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
    for cmd in (['apt-get', 'update', '-q'], ['apt-get', 'install', '-y', '-q', CHROMIUM_PKG]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if r.returncode: pytest.skip(f'could not install chromium ({" ".join(cmd)} failed: {r.stderr.strip()[-300:]})')
    return shutil.which('chromium') or '/usr/bin/chromium'


def _screenshot(exe: str, page: Path, tmp: Path) -> Image.Image:
    png = tmp / f'{page.stem}.png'
    cmd = [exe, *CHROMIUM_FLAGS, f'--user-data-dir={tmp / "chromium-profile"}', f'--screenshot={png}',
           '--window-size=1200,900', page.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and png.is_file(), f'chromium failed ({r.returncode}): {r.stderr[-2000:]}'
    return Image.open(png).convert('RGB')


def test_browser_renders_pages(site, tmp_path):
    exe = _chromium()
    for page in (site / 'index.html', site / 'runs/toy/x=1-00000001/notebook.html'):
        img = _screenshot(exe, page, tmp_path)
        assert img.size == (1200, 900)
        colours = img.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 1, f'{page}: blank screenshot'
        non_white = sum(n for n, c in colours if c != (255, 255, 255))
        assert non_white > 0.02 * img.size[0] * img.size[1], f'{page}: screenshot is almost all white'
        if page.name == 'notebook.html':   # the figure output (#D55E00) is drawn
            orange = [c for n, c in colours if n > 100 and abs(c[0] - 0xD5) < 8 and abs(c[1] - 0x5E) < 8 and c[2] < 8]
            assert orange, 'run figure not visible'
        for tag, attr, url in page_links(page):
            if url.startswith(('http:', 'https:', 'mailto:', 'data:', '#')): continue
            assert (page.parent / urllib.parse.unquote(url.split('#')[0])).resolve().is_file(), (page, url)


# --- A site built from a real batch: no path of this machine on any page --------------------------------------------

@pytest.fixture(scope='module')
def smoke_site(tmp_path_factory):
    "A copy of the project's site sources with the quick smoke batch run into its runs/ (~1 min), built offline."
    from lmresearch.batch import run_batch
    from lmresearch.demo import QUICK
    proj = tmp_path_factory.mktemp('smoke-site') / 'proj'
    (proj / 'nbs' / 'experiments').mkdir(parents=True)
    for f in ('settings.ini', '_quarto.yml', 'nbs/index.ipynb', 'nbs/experiments/smoke_train.ipynb'):
        shutil.copy(ROOT / f, proj / f)
    shutil.copytree(ROOT / 'configs', proj / 'configs')
    res = run_batch(proj / 'configs/batches/smoke.yaml', out=proj / 'runs' / 'smoke', overrides=QUICK, progress=False)
    assert res.ok, res.table.to_string()
    return proj, build_site(proj, use_quarto=False)


def test_site_of_a_batch_shows_no_machine_path(smoke_site):
    "Issue 17: each job page's injected parameters (run_dir) and outputs, and the batch page, show relative paths."
    proj, site = smoke_site
    pages = sorted(site.rglob('*.html'))
    assert len([p for p in pages if p.name == 'notebook.html']) == 2 and (site / 'runs/smoke/index.html').is_file()
    absolute = {str(proj), str(proj.resolve()), str(ROOT)}
    bad = [(p.relative_to(site).as_posix(), a) for p in pages for a in absolute if a in p.read_text(encoding='utf-8')]
    assert not bad, bad
    job = next(p for p in pages if p.name == 'notebook.html').read_text(encoding='utf-8')
    assert '&quot;runs/smoke/seed=' in job or '"runs/smoke/seed=' in job, 'run_dir shown relative to the project'
    assert 'Warning' not in ''.join(re.findall(r'<pre class="output stream stderr">(.*?)</pre>', job, re.S))


# --- A chapter in a real browser: caption rendered, wide table scrolls, Devanagari in the shipped font ----------------

def _probe(exe: str, page: Path, tmp: Path) -> dict:
    "Load a copy of `page` with a script that measures its layout in Chromium; the measurements as a dict."
    script = '''<script>
window.addEventListener('load', async () => {
  await document.fonts.ready;
  const cap = document.querySelector('.table-caption'), wrap = document.querySelector('.table-wrap');
  const r = {caption: cap ? cap.innerText : null, caption_height: cap ? cap.getBoundingClientRect().height : 0,
    caption_above_table: !!(cap && wrap && (cap.compareDocumentPosition(wrap) & Node.DOCUMENT_POSITION_FOLLOWING)),
    raw_syntax: document.body.innerText.includes('{#tbl-'),
    wrap_overflow_x: wrap ? getComputedStyle(wrap).overflowX : null,
    wrap_scrolls: wrap ? wrap.scrollWidth > wrap.clientWidth : false,
    wrap_right: wrap ? wrap.getBoundingClientRect().right : 0, viewport: window.innerWidth,
    page_overflows: document.documentElement.scrollWidth > window.innerWidth,
    devanagari_font: [...document.fonts].some(f => f.family.includes('Noto Sans Devanagari') && f.status === 'loaded')};
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>'''
    probe = page.with_name(page.stem + '-probe.html')
    probe.write_text(page.read_text(encoding='utf-8').replace('</body>', script + '</body>'), encoding='utf-8')
    cmd = [exe, *CHROMIUM_FLAGS, f'--user-data-dir={tmp / "chromium-probe"}', '--window-size=1200,900',
           '--virtual-time-budget=10000', '--dump-dom', probe.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert m, f'no measurements from chromium ({r.returncode}): {r.stderr[-2000:]}'
    return json.loads(html.unescape(m.group(1)))


def test_browser_chapter_caption_table_and_font(tmp_path):
    "Issue 18: a two-line table caption renders as a caption, a 24-column table scrolls in the page, Devanagari loads."
    proj = make_project(tmp_path / 'proj')
    cols = ['model'] + [f'bookkeeping_{i}' for i in range(20)] + ['perplexity', 'composite', 'accuracy']
    table = '| ' + ' | '.join(cols) + ' |\n|' + '---|' * len(cols) + '\n| हिन्दी मॉडल | '
    table += ' | '.join(['250896'] * 23)
    (proj / 'figures' / 'wide.md').write_text(table + ' |\n', encoding='utf-8')
    (proj / 'papers' / 'chapter.qmd').write_text(
        '---\ntitle: A chapter\n---\n\n## Results\n\nहिन्दी पाठ: @tbl-wide lists the models.\n\n'
        '{{< include ../figures/wide.md >}}\n\n: Hindi configs: validation loss, bits per character,\n'
        'and agreement accuracy. {#tbl-wide}\n', encoding='utf-8')
    site = build_site(proj, use_quarto=False)
    exe = _chromium()
    got = _probe(exe, site / 'papers' / 'chapter.html', tmp_path)
    assert got['caption'] == 'Table 1: Hindi configs: validation loss, bits per character, and agreement accuracy.', got
    assert got['caption_height'] > 0 and got['caption_above_table'] and not got['raw_syntax'], got
    assert got['wrap_overflow_x'] == 'auto' and got['wrap_scrolls'] and got['wrap_right'] <= got['viewport'], got
    assert not got['page_overflows'] and got['devanagari_font'], got
    img = _screenshot(exe, site / 'papers' / 'chapter.html', tmp_path)
    assert img.size == (1200, 900) and len(img.getcolors(maxcolors=1 << 20) or []) > 2
