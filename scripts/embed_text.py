r"""Embeds one text per line of a UTF-8 file with a BERT sentence encoder.

  python scripts/embed_text.py --input=titles.txt --output=titles.npy

writes float32 [lines, hidden] (all-MiniLM-L6-v2 by default: hidden 384,
rows unit-norm). Exit code 2 if the input is not valid UTF-8.
"""

from absl import flags

from metarec_jax.core import cli
from metarec_jax.text import encode

_INPUT = flags.DEFINE_string("input", None, "Text file, one text per line.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the .npy.")
_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Hugging Face BERT folder (config.json, "
    "model.safetensors, tokenizer.json); default: pinned all-MiniLM-L6-v2.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Texts per jitted call.")
flags.mark_flags_as_required(["input", "output"])


def main(argv):
  del argv
  encode.embed_file(_INPUT.value, _OUTPUT.value, _MODEL_DIR.value,
                    _BATCH_SIZE.value)


if __name__ == "__main__":
  cli.run(main, config_flags=())
