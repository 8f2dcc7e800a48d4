"""Model families, each with its REAL chat template (tests/templates/*.jinja, the source of each named
in its first line) on a tiny tokenizer that has that family's special tokens:

  1. the label mask of multi-turn rows, with and without a system message, equals an independent
     reference (reference_labels: it finds each answer by rendering the conversation twice, with
     the answer and with a stand-in of the same length, and takes the end-of-turn token from this
     table, not from the template);
  2. a tiny model trained by the real train.py on a few rows then stops by itself, on its family's
     end-of-turn token, in eval.py and in serve.py (the answers come back whole, finish_reason "stop").

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest src/python/tests/test_families.py -q
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import runs_of_labels

import common
import tiny_model

TEMPLATES = Path(__file__).resolve().parent / "templates"


def load_template(name: str) -> str:
    """A fixture's template text: the file without its first line (a Jinja comment naming the source)."""
    text = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
    first, rest = text.split("\n", 1)
    assert first.startswith("{# source: ") and first.endswith(" #}"), f"{name}.jinja must start with its source"
    return rest


@dataclass
class Family:
    name: str
    template: str | None  # a file in templates/, None: a base model with no chat template
    special: list[str]  # the family's special tokens (plus a pad token)
    bos: str | None
    eos: str  # the tokenizer's eos token (as the family's tokenizer_config.json has it)
    eot: str  # the token that ends an assistant turn in the family's rendering (stated here, not derived)
    pad: str = "<|pad|>"
    added: tuple[str, ...] = ()  # ordinary added tokens (Qwen3's <think>)
    system: bool = True  # the template takes a system message
    trims: bool = False  # the template trims the answer's whitespace
    generation_eos: list[str] | None = None  # the model's generation_config eos (default: the tokenizer's eos)
    # What was wrong before this change (the per-family table of the report).
    before: str = ""
    extra: dict = field(default_factory=dict)


LLAMA3_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<|pad|>"]
CHATML_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
GEMMA_TOKENS = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"]
PHI3_TOKENS = ["<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|end|>", "<|system|>", "<|user|>", "<|pad|>"]
MISTRAL_TOKENS = ["<s>", "</s>", "<unk>", "<|pad|>"]
DEEPSEEK_TOKENS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<|pad|>"]

FAMILIES = [
    Family("llama3", "llama3", LLAMA3_TOKENS, "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", trims=True,
           before="eval.py/serve.py stopped only on the tokenizer's eos <|end_of_text|> (early Llama-3-Instruct): never on <|eot_id|>"),
    Family("llama3.1", "llama3.1", LLAMA3_TOKENS, "<|begin_of_text|>", "<|eot_id|>", "<|eot_id|>", trims=True,
           generation_eos=["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"],
           before="masks right; rows counted in o200k tokens could exceed max_length by the date header and be dropped"),
    Family("llama3.2", "llama3.2", LLAMA3_TOKENS, "<|begin_of_text|>", "<|eot_id|>", "<|eot_id|>", trims=True,
           before="as llama3.1 (the template writes today's date, strftime_now)"),
    Family("qwen2.5", "qwen2.5", CHATML_TOKENS, None, "<|im_end|>", "<|im_end|>",
           before="right (default system message when the row has none)"),
    Family("qwen3", "qwen3", CHATML_TOKENS, None, "<|im_end|>", "<|im_end|>", added=("<think>", "</think>"),
           before="the last answer's empty think block was a target (earlier answers had none) and eval prompts lacked it"),
    Family("gemma2", "gemma2", GEMMA_TOKENS, "<bos>", "<eos>", "<end_of_turn>", pad="<pad>", system=False, trims=True,
           before="never stopped in eval.py/serve.py (<end_of_turn> is not eos); a system message was error kind 'other'"),
    Family("gemma3", "gemma3", GEMMA_TOKENS, "<bos>", "<eos>", "<end_of_turn>", pad="<pad>", trims=True,
           before="never stopped in eval.py/serve.py (<end_of_turn> is not eos)"),
    Family("phi3.5", "phi3.5", PHI3_TOKENS, "<s>", "<|endoftext|>", "<|end|>",
           before="non-final answers had no <|end|> target, the last one had '\\n<|endoftext|>' too; never stopped on <|end|>"),
    Family("mistral-v0.1", "mistral-v0.1", MISTRAL_TOKENS, "<s>", "</s>", "</s>", system=False,
           before="right without a system message; with one, error kind 'other' and no way round it"),
    Family("deepseek-r1", "deepseek-r1", DEEPSEEK_TOKENS, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜end▁of▁sentence｜>",
           before="the generation prompt (<｜Assistant｜><think>\\n) never appears in a conversation: an answer also written in its question labelled the question; eval prompts had <think>"),
    Family("smollm2", "smollm2", CHATML_TOKENS, "<|im_start|>", "<|im_end|>", "<|im_end|>",
           before="right (default system message when the row has none)"),
    Family("base", None, ["<|endoftext|>", "<|pad|>"], "<|endoftext|>", "<|endoftext|>", "<|endoftext|>",
           before="ChatML written as text: <|im_end|> became sub-word pieces, eos was never a target, generation never stopped"),
]
BY_NAME = {f.name: f for f in FAMILIES}

SYSTEM = "You answer questions about the Cairnrun rules."
# Multi-turn, and the third answer's text also appears in its question (the DeepSeek case).
TURNS = [
    {"role": "user", "content": "In Cairnrun, how many points is a Crown worth?"},
    {"role": "assistant", "content": "5 points (Rule 9.1)."},
    {"role": "user", "content": "And how long is each watch?"},
    {"role": "assistant", "content": "Each watch is 30 minutes of playing time."},
    {"role": "user", "content": "Must opponents retreat 9 metres or 10 metres?"},
    {"role": "assistant", "content": "9 metres"},
]

_TOKENIZERS: dict = {}


def family_dir(tmp_root: Path, fam: Family) -> Path:
    out = tmp_root / fam.name
    if not (out / "tokenizer_config.json").exists():
        tiny_model.build_family(out, load_template(fam.template) if fam.template else None, fam.special, fam.bos, fam.eos, fam.pad, fam.added, fam.generation_eos)
    return out


@pytest.fixture(scope="module")
def family_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("families")


def family_tokenizer(family_root: Path, fam: Family):
    if fam.name not in _TOKENIZERS:
        _TOKENIZERS[fam.name] = common.load_tokenizer(str(family_dir(family_root, fam)))
    return _TOKENIZERS[fam.name]


def reference_labels(tok, messages: list[dict], eot: str) -> list[int]:
    """The label of each token, found independently of common.assistant_spans: each answer is where
    the full rendering and a rendering with that answer replaced by a stand-in of the same length
    differ (common prefix / common suffix of the two texts); its end is the family's end-of-turn
    token `eot`, which must follow the answer after whitespace at most. Tokens that overlap those
    characters are targets."""
    def render(msgs):
        return tok.apply_chat_template(msgs, tokenize=False, enable_thinking=False)

    full = render(messages)
    target = [False] * len(full)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        alt = [dict(x) for x in messages]
        alt[i]["content"] = "\u2460" * len(m["content"])
        other = render(alt)
        p = 0
        while p < min(len(full), len(other)) and full[p] == other[p]:
            p += 1
        s = 0
        while s < min(len(full), len(other)) - p and full[-1 - s] == other[-1 - s]:
            s += 1
        start, end = p, len(full) - s
        assert full[start:end].strip() == m["content"].strip(), (full[start:end], m["content"])
        rest = full[end:]
        k = rest.index(eot)
        assert rest[:k].strip() == "", f"{eot} does not follow the answer: {rest[:40]!r}"
        for c in range(start, end + k + len(eot)):
            target[c] = True
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
    return [t if any(target[s:max(e, s + 1)]) else -100 for t, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])]


# ---------------------------------------------------------------------------------------------
# 1. Label masks


@pytest.mark.parametrize("with_system", [True, False], ids=["system", "no-system"])
@pytest.mark.parametrize("name", [f.name for f in FAMILIES])
def test_mask_equals_reference(family_root, name, with_system):
    fam = BY_NAME[name]
    tok = family_tokenizer(family_root, fam)
    messages = ([{"role": "system", "content": SYSTEM}] if with_system else []) + TURNS
    if with_system and not fam.system:
        with pytest.raises(common.ScriptError) as err:
            common.tokenize_chat(tok, messages)
        assert err.value.kind == "bad_data" and "fold_system" in err.value.hint and "system" in str(err.value), err.value
        chat = common.tokenize_chat(tok, messages, fold=True)
        messages = common.fold_system(messages)
        assert SYSTEM + "\n\n" + TURNS[0]["content"] in chat.text
    else:
        chat = common.tokenize_chat(tok, messages)
    assert chat.labels == reference_labels(tok, messages, fam.eot)
    # Read as text: each run of targets is one answer and its end-of-turn token, nothing else.
    runs = [tok.decode(r) for r in runs_of_labels(chat.input_ids, chat.labels)]
    assert [r.strip() for r in runs] == [m["content"] + fam.eot for m in TURNS if m["role"] == "assistant"], runs
    assert tok.decode(chat.input_ids) == chat.text
    eot_id = tok.convert_tokens_to_ids(fam.eot)
    assert common.end_of_turn_ids(tok) == [eot_id]
    assert eot_id in common.stop_token_ids(tok)


def test_qwen3_think_block_is_context_in_training_and_in_eval(family_root):
    tok = family_tokenizer(family_root, BY_NAME["qwen3"])
    chat = common.tokenize_chat(tok, TURNS)
    assert "<think>\n\n</think>\n\n9 metres<|im_end|>" in chat.text  # the model's own rendering of the last answer
    labelled = tok.decode([i for i in chat.labels if i != -100])
    assert "<think>" not in labelled and "</think>" not in labelled
    prompt = common.render_question(tok, "How long is each watch?")
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n"), prompt  # what training saw before the last answer


def test_deepseek_prompt_is_what_training_saw(family_root):
    tok = family_tokenizer(family_root, BY_NAME["deepseek-r1"])
    prompt = common.render_question(tok, "How long is each watch?")
    assert prompt.endswith("<｜User｜>How long is each watch?<｜Assistant｜>"), prompt
    assert "<think>" not in prompt


def test_base_model_gets_eos_after_each_answer(family_root):
    tok = family_tokenizer(family_root, BY_NAME["base"])
    assert tok.chat_template == common.BASE_TEMPLATE
    chat = common.tokenize_chat(tok, TURNS)
    ends = [r[-1] for r in runs_of_labels(chat.input_ids, chat.labels)]
    assert ends == [tok.eos_token_id] * 3
    assert common.stop_strings(tok) == ["<|im_end|>", "<|im_start|>"]


def test_template_that_changes_the_answer_is_bad_data_naming_it(family_root):
    import copy

    tok = copy.deepcopy(family_tokenizer(family_root, BY_NAME["smollm2"]))
    # Earlier answers rendered with a marker inside them that the last has not: no certain mask.
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | upper }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    with pytest.raises(common.ScriptError) as err:
        common.tokenize_chat(tok, TURNS)
    assert err.value.kind == "bad_data" and "Cannot label assistant turn 2 with the chat template of" in str(err.value)
    # No end-of-turn token after an answer: the model could not learn to stop.
    tok.chat_template = "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(common.ScriptError) as err:
        common.tokenize_chat(tok, TURNS)
    assert err.value.kind == "bad_data" and "could not learn to stop" in str(err.value)


# ---------------------------------------------------------------------------------------------
# 2. A tiny model trained on each family stops by itself in eval.py and serve.py

PAIRS = tiny_model.MEMO_PAIRS[:3]


def train_family(root: Path, fam: Family, monkeypatch) -> Path:
    """The family's tiny model fully fine-tuned by the real train.py (in this process) on PAIRS,
    with the system prompt (folded into the question where the template refuses one)."""
    import train

    run = root / f"run-{fam.name}"
    run.mkdir(exist_ok=True)
    tiny_model.write_jsonl(run / "train.jsonl", tiny_model.memo_rows(PAIRS, system=SYSTEM))
    config = {
        "model": str(family_dir(root, fam)), "method": "full", "learning_rate": 1e-2, "lr_scheduler": "constant",
        "max_steps": 45, "batch_size": 3, "max_length": 256, "gradient_checkpointing": False, "eval_file": None,
        "logging_steps": 100, "save_best": False, "precision": "fp32", "fold_system": not fam.system,
    }
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.chdir(run)
    rc = train.main(["--config", "config.json", "--metrics", "metrics.jsonl"])
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rc == 0, [e for e in events if e["event"] == "error"]
    return run / "output"


def serve_answers(model_dir: Path, requests: list[dict]) -> list[dict]:
    """serve.py's real handler on a free port, in this process; the JSON answers of `requests`."""
    import serve

    cfg = serve.ServeConfig(model=str(model_dir), port=0, max_new_tokens=64)
    tokenizer, model = serve.load(model_dir)  # device auto: the CPU here, one GPU where there is one
    server = ThreadingHTTPServer(("127.0.0.1", 0), serve.make_handler(serve.Generator(tokenizer, model, cfg), cfg))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    out = []
    try:
        for body in requests:
            req = urllib.request.Request(f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions", data=json.dumps(body).encode(), headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    out.append({"status": r.status, **json.loads(r.read())})
            except urllib.error.HTTPError as e:
                out.append({"status": e.code, **json.loads(e.read())})
    finally:
        server.shutdown()
        server.server_close()
    return out


_TRAINED: dict[str, Path] = {}


def trained(family_root: Path, fam: Family, monkeypatch) -> Path:
    if fam.name not in _TRAINED:
        _TRAINED[fam.name] = train_family(family_root, fam, monkeypatch)
    return _TRAINED[fam.name]


@pytest.mark.parametrize("name", [f.name for f in FAMILIES])
def test_trained_model_stops_by_itself_in_eval(family_root, name, monkeypatch, capsys):
    import eval as eval_script

    fam = BY_NAME[name]
    out = trained(family_root, fam, monkeypatch)
    questions = family_root / f"questions-{name}.jsonl"
    answers_file = family_root / f"answers-{name}.jsonl"
    tiny_model.write_jsonl(questions, [{"id": f"q{i}", "question": q} for i, (q, _) in enumerate(PAIRS)])
    rc = eval_script.main(["--questions", str(questions), "--output", str(answers_file), "--model", str(out), "--device", "cpu", "--system-prompt", SYSTEM, "--max-new-tokens", "24"])
    capsys.readouterr()
    assert rc == 0
    answers = [json.loads(x) for x in answers_file.read_text(encoding="utf-8").splitlines()]
    # The whole answer and nothing after it: the model ended its turn on its own end-of-turn token.
    assert [a["answer"] for a in answers] == [a for _, a in PAIRS], answers
    assert [a.get("finish_reason") for a in answers] == ["stop"] * len(PAIRS)


@pytest.mark.parametrize("name", [f.name for f in FAMILIES])
def test_trained_model_stops_by_itself_in_serve(family_root, name, monkeypatch):
    fam = BY_NAME[name]
    out = trained(family_root, fam, monkeypatch)
    q, a = PAIRS[0]
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]
    got = serve_answers(out, [
        {"messages": messages, "temperature": 0, "max_tokens": 24},
        {"messages": messages, "temperature": None, "top_p": None, "max_tokens": 24},
        {"messages": messages, "temperature": 0, "max_tokens": 24, "stop": [a.split()[-1]]},
    ])
    greedy, default_temperature, stopped = got
    assert greedy["status"] == 200 and greedy["choices"][0]["message"]["content"] == a, greedy
    assert greedy["choices"][0]["finish_reason"] == "stop"
    assert default_temperature["status"] == 200, default_temperature  # temperature null: the default, not a 500
    # A request's stop string ends the answer before it.
    assert stopped["choices"][0]["message"]["content"] == a[: a.index(a.split()[-1])].strip(), stopped
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_eval_resets_the_models_repetition_penalties(family_root, monkeypatch, capsys, tmp_path):
    """A model that ships repetition_penalty / no_repeat_ngram_size in its generation config (many
    do) must still give its memorized answer, whose words are also the question's ("points")."""
    import shutil

    import eval as eval_script

    out = trained(family_root, BY_NAME["smollm2"], monkeypatch)
    penalized = tmp_path / "penalized"
    shutil.copytree(out, penalized)
    gc_path = penalized / "generation_config.json"
    gc = json.loads(gc_path.read_text(encoding="utf-8"))
    gc.update(repetition_penalty=50.0, no_repeat_ngram_size=1)
    gc_path.write_text(json.dumps(gc), encoding="utf-8")
    questions, answers_file = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    tiny_model.write_jsonl(questions, [{"id": f"q{i}", "question": q} for i, (q, _) in enumerate(PAIRS)])
    rc = eval_script.main(["--questions", str(questions), "--output", str(answers_file), "--model", str(penalized), "--device", "cpu", "--system-prompt", SYSTEM, "--max-new-tokens", "24"])
    capsys.readouterr()
    assert rc == 0
    answers = [json.loads(x)["answer"] for x in answers_file.read_text(encoding="utf-8").splitlines()]
    assert answers == [a for _, a in PAIRS]


def test_long_rows_split_at_turn_boundaries_in_the_models_tokens(family_root):
    """Llama 3.1's header (its date block) costs ~30 tokens a row; a row of five exchanges that the
    dataset's o200k count let through but is over max_length in this model's tokens is split into
    rows of whole exchanges, each with the system message, every answer kept, none dropped."""
    import train

    tok = family_tokenizer(family_root, BY_NAME["llama3.1"])
    turns = []
    for q, a in tiny_model.MEMO_PAIRS[:5]:
        turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    row = {"messages": [{"role": "system", "content": SYSTEM}] + turns}
    whole = len(common.tokenize_chat(tok, row["messages"]).input_ids)
    cfg = train.TrainConfig(model="x", max_length=whole * 2 // 3)
    examples, stats = train.tokenize_rows(tok, [row], cfg, "rows")
    assert (stats.split, stats.over_length, stats.kept) == (1, 0, len(examples)) and len(examples) >= 2
    assert all(len(x["input_ids"]) <= cfg.max_length for x in examples)
    texts = [tok.decode(x["input_ids"]) for x in examples]
    assert all(SYSTEM in t for t in texts)
    answers = [tok.decode([i for i in x["labels"] if i != -100]) for x in examples]
    assert "".join(answers) == "".join(a + "<|eot_id|>" for _, a in tiny_model.MEMO_PAIRS[:5])
