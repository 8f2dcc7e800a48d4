"""Builds a tiny Llama-style chat model and its tokenizer on the spot: no downloads, a second or two on a CPU.

For tests and checks of the training and evaluation scripts (pytest's conftest.py, gpu_check.py):

    python tiny_model.py OUT_DIR            # writes config.json, model.safetensors, tokenizer files
    python -c "import tiny_model; tiny_model.build('out')"

The tokenizer is a byte-level BPE trained with the `tokenizers` library on the sample rulebook
(test/fixtures/rulebook.md) plus the texts given, with ChatML special tokens and a ChatML chat
template; the model has random weights (LlamaConfig: 2 layers, hidden 128), so it knows no
language and must be fully fine-tuned to learn anything (LoRA on noise learns little).
It also holds a small memorization set (MEMO_PAIRS) that a few dozen steps can teach it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import common

RULEBOOK = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "rulebook.md"

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]

# Short question-answer pairs in the rulebook's words, for memorization checks.
MEMO_PAIRS = [
    ("In Cairnrun, how many points is a Crown worth?", "5 points."),
    ("In Cairnrun, how long is each watch?", "30 minutes."),
    ("In Cairnrun, how far must opponents retreat at a Free Cast?", "9 metres."),
    ("In Cairnrun, how many substitutions may a team make?", "Up to eight."),
    ("In Cairnrun, how long is an amber pennant suspension?", "4 minutes."),
    ("In Cairnrun, what is the inner diameter of the Gate ring?", "1.2 metres."),
]

SYSTEM_PROMPT = "You answer questions about the Cairnrun rules."


def memo_rows(pairs=MEMO_PAIRS, system: str | None = SYSTEM_PROMPT) -> list[dict]:
    """One chat row per pair, in the dataset's messages format (optionally with a system message)."""
    rows = []
    for q, a in pairs:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": q},
            {"role": "assistant", "content": a},
        ]
        rows.append({"messages": messages})
    return rows


def write_jsonl(path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def training_text(extra: list[str] | None = None) -> list[str]:
    """What the tokenizer is trained on: the rulebook's lines (when the repository has it) plus `extra`."""
    texts = RULEBOOK.read_text(encoding="utf-8").splitlines() if RULEBOOK.exists() else []
    texts += [f"{q} {a}" for q, a in MEMO_PAIRS] + [SYSTEM_PROMPT]
    return texts + list(extra or [])


def build_tokenizer(vocab_size: int = 1024, extra_texts: list[str] | None = None):
    """A PreTrainedTokenizerFast over a byte-level BPE, ChatML tokens and template, pad = <|pad|>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(training_text(extra_texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|im_end|>", pad_token="<|pad|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = common.CHATML_TEMPLATE
    return tokenizer


def build_model(tokenizer, hidden_size: int = 128, layers: int = 2, seed: int = 0):
    """A LlamaForCausalLM with random weights sized for `tokenizer`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def build(out_dir, vocab_size: int = 1024, hidden_size: int = 128, layers: int = 2, seed: int = 0) -> Path:
    """Writes the tiny model and tokenizer to `out_dir` (save_pretrained) and returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(vocab_size)
    model = build_model(tokenizer, hidden_size=hidden_size, layers=layers, seed=seed)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def greedy_answers(model_dir, questions: list[str], system: str | None = SYSTEM_PROMPT, max_new_tokens: int = 16, device: str = "cpu") -> list[str]:
    """Greedy answers of a saved model (or a LoRA adapter folder, loaded over its base) to `questions`, one at a time."""
    from transformers import AutoModelForCausalLM

    model_dir = str(model_dir)
    tokenizer = common.load_tokenizer(model_dir)
    if (Path(model_dir) / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(model_dir)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.to(device).eval()
    # One at a time, through the same generation code as eval.py (prompt, stop tokens, penalties reset).
    return [common.greedy_generate(model, tokenizer, [common.render_question(tokenizer, q, system)], max_new_tokens, device)[0][0] for q in questions]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tiny_model.py OUT_DIR")
    print(build(sys.argv[1]))


def build_family(out_dir, template: str | None, special_tokens: list[str], bos: str | None, eos: str, pad: str, added_tokens: tuple[str, ...] = (), generation_eos: list[str] | None = None, vocab_size: int = 512, hidden_size: int = 64, layers: int = 1, seed: int = 0) -> Path:
    """A tiny model dressed as one model family: a byte-level BPE with that family's special tokens,
    bos / eos / pad, its chat template (None: a base model with none) and a generation config whose
    eos ids are `generation_eos` (default: the tokenizer's eos only, which is what makes a template's
    own end-of-turn token matter). `added_tokens` are added as ordinary (non-special) tokens, as
    Qwen3's <think> is. Writes save_pretrained files to `out_dir` and returns it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(dict.fromkeys(special_tokens)), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(training_text(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=None)
    if added_tokens:
        tokenizer.add_tokens(list(added_tokens))
    tokenizer.chat_template = template
    model = build_model(tokenizer, hidden_size=hidden_size, layers=layers, seed=seed)
    ids = [tokenizer.convert_tokens_to_ids(t) for t in (generation_eos or [eos])]
    model.generation_config.eos_token_id = ids if len(ids) > 1 else ids[0]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
