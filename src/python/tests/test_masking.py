"""Loss on assistant tokens only: common.tokenize_chat must label exactly each assistant turn's text and
its end-of-turn token, for ChatML and for templates that differ from it in the ways real ones do."""

from __future__ import annotations

import copy

import pytest
from conftest import runs_of_labels

import common

ROW = [
    {"role": "system", "content": "You answer questions about the Cairnrun rules."},
    {"role": "user", "content": "In Cairnrun, how many points is a Crown worth?"},
    {"role": "assistant", "content": "5 points (Rule 9.1)."},
    {"role": "user", "content": "And how long is each watch?"},
    {"role": "assistant", "content": "Each watch is 30 minutes of playing time."},
    {"role": "user", "content": "How far must opponents retreat at a Free Cast?"},
    {"role": "assistant", "content": "9 m."},
]

# Llama-3 style: BOS from the template, a blank line after the header, trimmed content, no newline after the end token.
LLAMA3_LIKE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n\n{{ m['content'] | trim }}<|im_end|>{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n\n{% endif %}"
)
# Qwen-2.5 style: a default system message when the row has none.
DEFAULT_SYSTEM = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Renders earlier assistant turns differently from the last one (as templates that strip reasoning do),
# so the rendering of a prefix is not a prefix of the whole.
EARLIER_DIFFERENT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' and not loop.last %}(earlier) {% endif %}{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def with_template(tokenizer, template):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = template
    return tok


def assistant_texts(messages):
    return [m["content"] for m in messages if m["role"] == "assistant"]


@pytest.mark.parametrize("template", [None, LLAMA3_LIKE, DEFAULT_SYSTEM, EARLIER_DIFFERENT], ids=["chatml", "llama3-like", "default-system", "earlier-turns-differ"])
@pytest.mark.parametrize("system", [True, False], ids=["system", "no-system"])
def test_labels_are_exactly_the_assistant_turns(tokenizer, template, system):
    tok = with_template(tokenizer, template) if template else tokenizer
    messages = ROW if system else ROW[1:]
    chat = common.tokenize_chat(tok, messages)
    runs = runs_of_labels(chat.input_ids, chat.labels)
    decoded = [tok.decode(r) for r in runs]
    # A token may carry the whitespace before the answer with its first characters (byte-level BPE's " 5").
    assert [d.lstrip() for d in decoded] == [a + "<|im_end|>" for a in assistant_texts(messages)], decoded
    # Everything else (system, user, headers, BOS, the "(earlier) " marker) is masked.
    masked = tok.decode([i for i, lab in zip(chat.input_ids, chat.labels) if lab == -100])
    for m in messages:
        if m["role"] != "assistant":
            assert m["content"] in masked
    for a in assistant_texts(messages):
        assert a not in masked
    assert len(chat.input_ids) == len(chat.labels)
    # The whole rendering is tokenized once, without extra special tokens.
    assert tok.decode(chat.input_ids) == chat.text


def test_single_turn_row_labels_answer_and_end_token(tokenizer):
    chat = common.tokenize_chat(tokenizer, [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "Nine metres."}])
    labelled = [i for i in chat.labels if i != -100]
    assert tokenizer.decode(labelled) == "Nine metres.<|im_end|>"
    assert labelled[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    # The newline the template writes after <|im_end|> is not a target.
    assert chat.labels[-1] == -100


def test_row_without_assistant_turn_has_no_targets(tokenizer):
    chat = common.tokenize_chat(tokenizer, [{"role": "user", "content": "Only a question?"}])
    assert chat.target_tokens == 0 and chat.assistant_spans == []


def test_return_assistant_tokens_mask_would_train_on_nothing(tokenizer):
    """Why tokenize_chat exists: the library's mask is all zeros for a template without {% generation %}."""
    out = tokenizer.apply_chat_template(ROW, tokenize=True, return_assistant_tokens_mask=True, return_dict=True)
    assert sum(out["assistant_masks"]) == 0
    assert common.tokenize_chat(tokenizer, ROW).target_tokens > 0
