"""Minimal-pair scoring speed: one batched forward per batch of sentences vs the per-prefix loop.

    .venv/bin/python benchmarks/minimal_pairs.py [--pairs 1500] [--loop-pairs 100]

Older Hindi BabyLM code scored a sentence with one forward pass per token prefix (the log-probability of token i
from the prefix 0..i-1). `evaluate.sentence_logprobs` gets every token's log-probability from one forward over the
whole sentence, batched over sentences. Both score the same pairs with the same tiny GPT-2 (Hindi BPE tokenizer
trained on the packaged corpus); the pairs are agreement pairs from UD HDTB when it is beside the project, else
pairs made from packaged Hindi sentences by swapping two adjacent words. The loop is timed on the first
`--loop-pairs` pairs (it is slow) and the two scores are checked to agree there. Writes
benchmarks/results/minimal_pairs.json (or --out).
"""
import argparse, json, os, sys, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]


def make_pairs(n: int) -> tuple[pd.DataFrame, str]:
    from lmresearch.hindi.evaluate import agreement_pairs, find_beside, read_conllu
    ud = find_beside('shared/data/ud_hindi_hdtb')
    if ud is not None:
        sents = [s for f in sorted(ud.glob('*.conllu')) for s in read_conllu(f)]
        return agreement_pairs(sents).head(n), f'UD HDTB agreement pairs ({ud})'
    from lmresearch.corpora import hindi_text
    from lmresearch.hindi.corpus import clean_documents
    docs, _ = clean_documents(hindi_text()[:1500])
    good = [s for d in docs for s in d['sentences'] if 4 <= len(s.split()) <= 30][:n]
    bad = [' '.join(w[:1] + w[2:3] + w[1:2] + w[3:]) for w in (s.split() for s in good)]
    return pd.DataFrame({'good': good, 'bad': bad, 'phenomenon': 'word_order'}), 'packaged text, adjacent words swapped'


@torch.inference_mode()
def prefix_loop(model, tok, sentences) -> np.ndarray:
    "The old way: for each token, one forward over its prefix (BOS first), log p(token | prefix)."
    out = []
    for s in sentences:
        ids = [tok.bos_token_id] + tok(s, add_special_tokens=False)['input_ids']
        lp = 0.0
        for i in range(1, len(ids)):
            logits = model(input_ids=torch.tensor([ids[:i]])).logits[0, -1]
            lp += torch.log_softmax(logits.float(), -1)[ids[i]].item()
        out.append(lp)
    return np.array(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--pairs', type=int, default=1500); ap.add_argument('--loop-pairs', type=int, default=100)
    ap.add_argument('--batch', type=int, default=32); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'minimal_pairs.json'))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from lmresearch.core import system_info
    from lmresearch.evaluate import sentence_logprobs
    from lmresearch.hindi.corpus import prepare_corpus, read_sentences
    from lmresearch.hindi.model import build_model
    from lmresearch.hindi.tokenizers import train_tokenizer
    import tempfile
    load0 = os.getloadavg()
    pairs, source = make_pairs(a.pairs)
    with tempfile.TemporaryDirectory() as d:
        prepare_corpus(d, words='50k')
        tok = train_tokenizer('bpe', read_sentences(d), 2000)
    model = build_model('gpt2', 'tiny', tok, positions=512).eval()
    sents = list(pairs.good) + list(pairs.bad)
    t = time.perf_counter(); batched = sentence_logprobs(model, tok, sents, a.batch); tb = time.perf_counter() - t
    k = min(a.loop_pairs, len(pairs))
    sub = list(pairs.good[:k]) + list(pairs.bad[:k])
    t = time.perf_counter(); loop = prefix_loop(model, tok, sub); tl = time.perf_counter() - t
    ref = np.concatenate([batched[:k], batched[len(pairs):len(pairs) + k]])
    res = {'source': source, 'pairs': len(pairs), 'loop_pairs': k, 'tokens_per_sentence': float(np.mean(
               [len(x) for x in tok(sents, add_special_tokens=False)['input_ids']])),
           'batched_pairs_per_s': len(pairs) / tb, 'loop_pairs_per_s': k / tl,
           'ratio': (len(pairs) / tb) / (k / tl), 'max_abs_diff_nats': float(np.abs(loop - ref).max()),
           'args': vars(a), 'command': ' '.join(sys.argv), 'loadavg_before': load0, 'loadavg_after': os.getloadavg(),
           'system': system_info()}
    print(f"{source}: {len(pairs)} pairs, {res['tokens_per_sentence']:.1f} tokens/sentence")
    print(f"batched forward: {res['batched_pairs_per_s']:.1f} pairs/s; per-prefix loop ({k} pairs): "
          f"{res['loop_pairs_per_s']:.2f} pairs/s; ratio {res['ratio']:.1f}x; max |diff| {res['max_abs_diff_nats']:.2e} nats")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2, default=str) + '\n')


if __name__ == '__main__':
    main()
