"""Answers evaluation questions with a causal language model: greedy, batched, same chat template as training.

Mnemo's evaluation stage writes the questions and runs this script, locally or in a run's folder
on the GPU machine:

    python eval.py --questions questions.jsonl --output answers.jsonl --model HuggingFaceTB/SmolLM2-135M-Instruct
    python eval.py --questions q.jsonl --output a.jsonl --model BASE --adapter runs/<id>/output      # base + LoRA
    python eval.py --questions q.jsonl --output a.jsonl --model runs/<id>/output/merged             # merged / full model
    python eval.py --questions q.jsonl --output a.jsonl --model FOLDER --gguf-file model.Q4_1.gguf   # a GGUF in a folder
    python eval.py --questions q.jsonl --output a.jsonl --model BASE --context-file document.txt    # the document in the prompt

With --context-file the whole document goes into the system message (the "ceiling": the model
reads the answer instead of recalling it); that shared prefix is computed once and its KV cache
reused for every question, so a long document costs one prefill, not one per question.

questions.jsonl: one {"id": ..., "question": ...} per line. answers.jsonl: one
{"id", "answer", "latency_ms", "finish_reason"} (or {"id", "error"}) per line (finish_reason "stop":
the model ended its turn on its own end-of-turn token; "length": it hit --max-new-tokens), in the questions' order once the script is done (batches
group questions of similar length; each batch's lines are appended as it is answered, so with
--resume 1 a restarted run keeps them and answers only the questions without a line). Progress goes to stdout as JSON lines of the metrics protocol (DESIGN.md):
{"event": "status", "state": "loading_model" | "evaluating", "done": n, "total": m},
{"event": "error", "message", "hint", "kind"}, {"event": "done", "output_dir": answers file}.
Exit code 0 when the script ran (single questions may still carry an error), 1 when it failed,
143 when cancelled (SIGTERM). Model loading, devices, errors and the chat template come from
common.py, the same code train.py uses, so a question is rendered exactly as training rendered rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import dataclass, fields
from pathlib import Path

import common
from common import ScriptError


@dataclass
class EvalConfig:
    questions: str = "questions.jsonl"  # input: {"id", "question"} per line
    output: str = "answers.jsonl"  # output: {"id", "answer", "latency_ms"} or {"id", "error"} per line
    model: str = ""  # HF id or local folder of the base model (or of a merged / fully fine-tuned model)
    gguf_file: str | None = None  # a .gguf file inside the `model` folder (dequantized on load)
    adapter: str | None = None  # a peft adapter folder applied on top of `model`
    system_prompt: str | None = None  # the training rows' system message (mnemo.json dataset.systemPrompt)
    context_file: str | None = None  # a text file put in the system message (answers read from it, not recalled)
    max_new_tokens: int = 128  # most tokens of one answer
    batch_size: int = 8  # questions generated together (left padding)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto (bf16/fp16 on GPU, fp32 on CPU) | bf16 | fp16 | fp32
    resume: int = 0  # 1: keep the answers already in --output and answer only the other questions (a restarted remote evaluation)


METRICS = common.Metrics(path=None)  # protocol lines on stdout only: the caller keeps them


def emit(event: str, **data) -> None:
    """One protocol line on stdout (flushed: the editor reads it live)."""
    METRICS.emit(event, **data)


def parse_args(argv: list[str] | None = None) -> EvalConfig:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    for f in fields(EvalConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = int if f.type in ("int", int) else str
        parser.add_argument(flag, type=kind, default=f.default, dest=f.name)
    cfg = EvalConfig(**vars(parser.parse_args(argv)))
    if not cfg.model:
        raise ScriptError("No model given.", kind="bad_config", hint="Pass --model with an HF id or a local folder.")
    if cfg.batch_size < 1 or cfg.max_new_tokens < 1:
        raise ScriptError("--batch-size and --max-new-tokens must be at least 1.", kind="bad_config")
    return cfg


def read_questions(path: str) -> list[dict]:
    rows = common.read_jsonl(path)
    for n, item in enumerate(rows, 1):
        if not isinstance(item.get("id"), str) or not isinstance(item.get("question"), str):
            raise ScriptError(f"{path} row {n} needs a string \"id\" and \"question\".", kind="bad_data")
    return rows


def load_tokenizer(cfg: EvalConfig):
    """The tokenizer training used: the adapter folder's own copy (train.py saves it there), else the base model's."""
    if cfg.adapter and (Path(cfg.adapter) / "tokenizer_config.json").exists():
        return common.load_tokenizer(cfg.adapter, padding_side="left")
    return common.load_tokenizer(cfg.model, cfg.gguf_file, padding_side="left")


def load_model(cfg: EvalConfig, device: str, dtype):
    model = common.load_model(cfg.model, cfg.gguf_file, dtype=dtype)
    if cfg.adapter:
        if not (Path(cfg.adapter) / "adapter_config.json").exists():
            raise ScriptError(f"{cfg.adapter} is not a peft adapter folder (no adapter_config.json).", kind="model_not_found", hint="Pass the run's output folder, or a merged model as --model without --adapter.")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, cfg.adapter)
    model.to(device)
    model.eval()
    gc = model.generation_config
    # Greedy decoding: sampling fields a model ships with would only produce warnings, and its
    # repetition penalties would penalize the words of the question and the document.
    for name in ("temperature", "top_p", "top_k", "typical_p"):
        if getattr(gc, name, None) is not None:
            setattr(gc, name, None)
    gc.do_sample = False
    gc.repetition_penalty = 1.0
    gc.no_repeat_ngram_size = 0
    return model


def render(tokenizer, question: str, system_prompt: str | None) -> str:
    """The prompt as training renders a row up to the assistant's answer (common.render_question)."""
    return common.render_question(tokenizer, question, system_prompt)


CONTEXT_INTRO = (
    "Here is a document.\n\n<document>\n{document}\n</document>\n\n"
    "Answer the user's question from the document in one or two sentences, with its exact names and numbers."
)


def effective_system_prompt(cfg: EvalConfig) -> str | None:
    if not cfg.context_file:
        return cfg.system_prompt
    path = Path(cfg.context_file)
    if not path.exists():
        raise ScriptError(f"The context file {cfg.context_file} does not exist.", kind="bad_data")
    doc = CONTEXT_INTRO.format(document=path.read_text(encoding="utf-8").strip())
    return f"{cfg.system_prompt}\n\n{doc}" if cfg.system_prompt else doc


class PrefixCache:
    """The KV cache of the prompt's shared start (the system message with the document), reused per question."""

    def __init__(self, model, tokenizer, system_prompt: str, device):
        import torch

        probe_a = render(tokenizer, "A?", system_prompt)
        probe_b = render(tokenizer, "B?", system_prompt)
        n = 0
        while n < min(len(probe_a), len(probe_b)) and probe_a[n] == probe_b[n]:
            n += 1
        # Cut at the last line start before the first difference so tokens do not straddle the boundary.
        cut = probe_a.rfind("\n", 0, n) + 1
        self.text = probe_a[:cut]
        ids = torch.tensor([common.encode_prompt(tokenizer, self.text)], dtype=torch.long, device=device)
        with torch.inference_mode():
            self.cache = model(input_ids=ids, use_cache=True).past_key_values
        self.ids = ids
        self.tokens = ids.shape[1]

    def usable(self, tokenizer, prompt: str) -> bool:
        if not prompt.startswith(self.text):
            return False
        full = common.encode_prompt(tokenizer, prompt)
        return len(full) > self.tokens and full[: self.tokens] == self.ids[0].tolist()


def generate_with_prefix(model, tokenizer, prefix: PrefixCache, prompt: str, cfg: EvalConfig, device) -> tuple[str, str]:
    """One greedy answer over the cached prefix: (answer, finish_reason), stopping as greedy_generate does."""
    import copy

    import torch

    stops = common.stop_token_ids(tokenizer, model)
    strings = common.stop_strings(tokenizer)
    ids = torch.tensor([common.encode_prompt(tokenizer, prompt)], dtype=torch.long, device=device)
    extra = {"stop_strings": strings, "tokenizer": tokenizer} if strings else {}
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            past_key_values=copy.deepcopy(prefix.cache),
            max_new_tokens=cfg.max_new_tokens,
            do_sample=False,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=stops,
            **extra,
        )
    new = out[0, ids.shape[1]:].tolist()
    finish = "length"
    for k, t in enumerate(new):
        if t in stops:
            new, finish = new[:k], "stop"
            break
    text = tokenizer.decode(new, skip_special_tokens=True)
    cut = min((text.find(x) for x in strings if x in text), default=-1)
    if cut >= 0:
        text, finish = text[:cut], "stop"
    return text.strip(), finish


def generate(model, tokenizer, prompts: list[str], cfg: EvalConfig, device) -> list[tuple[str, str]]:
    """Greedy answers, batched: (answer, finish_reason) each (common.greedy_generate)."""
    return common.greedy_generate(model, tokenizer, prompts, cfg.max_new_tokens, device)


def is_oom(e: BaseException) -> bool:
    return "out of memory" in str(e).lower()


def answer_all(model, tokenizer, questions: list[dict], cfg: EvalConfig, device, out_file, system: str | None = None, prefix: PrefixCache | None = None) -> int:
    """Answers in batches of similar length (one by one over a cached prefix), writes the answers, returns the count of errors."""
    if prefix is not None:
        return answer_with_prefix(model, tokenizer, questions, cfg, device, out_file, system, prefix)
    order = sorted(range(len(questions)), key=lambda i: len(questions[i]["question"]))
    results: dict[int, dict] = {}
    errors = 0
    done = 0
    batch_size = cfg.batch_size
    pos = 0
    while pos < len(order):
        idx = order[pos:pos + batch_size]
        prompts = [render(tokenizer, questions[i]["question"], system) for i in idx]
        started = time.time()
        try:
            answers = generate(model, tokenizer, prompts, cfg, device)
            ms = round((time.time() - started) * 1000 / len(idx))
            for i, (a, finish) in zip(idx, answers):
                results[i] = {"id": questions[i]["id"], "answer": a, "latency_ms": ms, "finish_reason": finish}
        except Exception as e:  # noqa: BLE001 - one failing batch must not lose the others
            if is_oom(e) and batch_size > 1:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                batch_size = max(1, batch_size // 2)
                emit("status", state="evaluating", message=f"out of memory: batch size now {batch_size}", done=done, total=len(questions))
                continue
            if len(idx) > 1:
                # Find the question that fails: answer this batch one by one.
                for i in idx:
                    try:
                        t0 = time.time()
                        a, finish = generate(model, tokenizer, [render(tokenizer, questions[i]["question"], system)], cfg, device)[0]
                        results[i] = {"id": questions[i]["id"], "answer": a, "latency_ms": round((time.time() - t0) * 1000), "finish_reason": finish}
                    except Exception as e1:  # noqa: BLE001
                        results[i] = {"id": questions[i]["id"], "error": f"{type(e1).__name__}: {e1}"[:500]}
                        errors += 1
            else:
                results[idx[0]] = {"id": questions[idx[0]]["id"], "error": f"{type(e).__name__}: {e}"[:500]}
                errors += 1
        # Each batch's answers are appended as soon as they exist: a run stopped midway keeps them (--resume).
        for i in idx:
            out_file.write(json.dumps(results[i], ensure_ascii=False) + "\n")
        out_file.flush()
        pos += len(idx)
        done += len(idx)
        emit("status", state="evaluating", message=f"{done}/{len(questions)} answered", done=done, total=len(questions))
    return errors


def answered_before(out: Path) -> dict[str, str]:
    """--resume: the complete answer lines already in the output by id; a torn last line (a killed run) is cut off."""
    if not out.exists():
        return {}
    data = out.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with out.open("r+b") as f:
            f.truncate(end)
    lines: dict[str, str] = {}
    for line in data[:end].decode("utf-8").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            lines.setdefault(item["id"], line)
    return lines


def write_in_order(out: Path, questions: list[dict]) -> tuple[int, int]:
    """Rewrites the output in the questions' order, one line per question (atomically); returns (answered, errors)."""
    lines = answered_before(out)
    tmp = out.with_name(out.name + ".tmp")
    kept = [lines[q["id"]] for q in questions if q["id"] in lines]
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    tmp.replace(out)
    errors = sum(1 for line in kept if "error" in json.loads(line))
    return len(kept) - errors, errors


def answer_with_prefix(model, tokenizer, questions, cfg, device, out_file, system, prefix) -> int:
    errors = 0
    for n, q in enumerate(questions, 1):
        prompt = render(tokenizer, q["question"], system)
        t0 = time.time()
        try:
            if prefix.usable(tokenizer, prompt):
                a, finish = generate_with_prefix(model, tokenizer, prefix, prompt, cfg, device)
            else:
                a, finish = generate(model, tokenizer, [prompt], cfg, device)[0]
            item = {"id": q["id"], "answer": a, "latency_ms": round((time.time() - t0) * 1000), "finish_reason": finish}
        except Exception as e:  # noqa: BLE001 - one failing question must not lose the others
            item = {"id": q["id"], "error": f"{type(e).__name__}: {e}"[:500]}
            errors += 1
        out_file.write(json.dumps(item, ensure_ascii=False) + "\n")
        out_file.flush()
        emit("status", state="evaluating", message=f"{n}/{len(questions)} answered", done=n, total=len(questions))
    return errors


def main(argv: list[str] | None = None) -> int:
    common.on_sigterm_cancel()
    try:
        cfg = parse_args(argv)
        questions = read_questions(cfg.questions)
        everything = questions
        previous = answered_before(Path(cfg.output)) if cfg.resume else {}
        if previous:
            questions = [q for q in questions if q["id"] not in previous]
            emit("status", state="loading_model", message=f"resuming: {len(everything) - len(questions)} of {len(everything)} already answered")
        emit("status", state="loading_model", message=f"loading {cfg.model}" + (f" + adapter {cfg.adapter}" if cfg.adapter else ""))
        device = common.pick_device(cfg.device)
        dtype = common.pick_dtype(cfg.precision, device)
        tokenizer = load_tokenizer(cfg)
        model = load_model(cfg, device, dtype)
        system = effective_system_prompt(cfg)
        prefix = None
        if cfg.context_file:
            emit("status", state="evaluating", message="reading the context document", done=0, total=len(questions))
            prefix = PrefixCache(model, tokenizer, system, device)
            emit("status", state="evaluating", message=f"context document: {prefix.tokens} tokens, cached", done=0, total=len(questions), context_tokens=prefix.tokens)
        emit("status", state="evaluating", message=f"0/{len(questions)} answered on {device} ({common.dtype_name(dtype)})", done=0, total=len(questions))
        out = Path(cfg.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a" if previous else "w", encoding="utf-8") as f:
            answer_all(model, tokenizer, questions, cfg, device, f, system, prefix)
        answered, errors = write_in_order(out, everything)
        emit("done", output_dir=str(out), answered=answered, errors=errors)
        return 0
    except BaseException as e:  # noqa: BLE001 - every failure ends as one error event
        if isinstance(e, SystemExit):
            raise
        err = common.classify_error(e)
        if err.kind == "cancelled":
            err = ScriptError("The evaluation was cancelled.", kind="cancelled")
        elif err.kind in ("other", "oom"):
            traceback.print_exc(file=sys.stderr)
        if err.kind == "oom":
            err.hint = "Lower --batch-size (or --max-new-tokens)."
        METRICS.error(err)
        return 143 if err.kind == "cancelled" else 1


if __name__ == "__main__":
    sys.exit(main())
