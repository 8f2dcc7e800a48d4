"""Helpers shared by Mnemo's Python scripts (train.py, eval.py, gpu_check.py, the benchmarks).

The scripts are uploaded flat into a run folder and run there, so they import this file as
`import common`; it needs only the standard library at import time (torch and transformers are
imported inside the functions that use them).

What is here, in the order a script uses it:
    Metrics            the metrics protocol writer (metrics.jsonl + stdout, one JSON line per event)
    log                a human-readable line on stderr (the bridge keeps it in train.log)
    ScriptError        a failure with a `kind` and a `hint`, as the protocol's `error` event wants
    classify_error     any exception -> ScriptError (oom, missing_package, model_not_found, ...)
    on_sigterm_cancel  SIGTERM raises Cancelled, so a cancelled run still writes its error event
    read_jsonl         rows of a JSONL file, with the line number of a bad line
    pick_device, pick_dtype, pick_attn_implementation
    load_tokenizer, load_model   HF id, local folder, or a .gguf file inside a folder (`gguf_file`)
    render_chat        the model's chat template as text (bad_data naming the template when it refuses)
    tokenize_chat      input_ids + labels with the loss on assistant tokens only (see assistant_spans)
    stop_token_ids, render_question, encode_prompt, greedy_generate
                       generation as training rendered the rows: the same context, the same end token
"""

from __future__ import annotations

import errno
import importlib.util
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# A ChatML template for tokenizers that have none (base models); the tests' tiny tokenizer uses it too.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

ERROR_KINDS = ("oom", "missing_package", "model_not_found", "no_gpu", "disk_full", "bad_config", "bad_data", "cancelled", "other")


# ---------------------------------------------------------------------------------------------
# Metrics protocol and logs


def clean_numbers(value):
    """Replaces NaN and infinities (anywhere in dicts and lists) with None: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_numbers(v) for v in value]
    return value


def is_main_process() -> bool:
    """True on the process that writes metrics: rank 0 under torchrun / accelerate launch, or a plain run."""
    return int(os.environ.get("RANK", "0")) == 0


class Metrics:
    """Writes protocol events (src/core/training/protocol.ts) as JSON lines to a file and to stdout.

    Every event gets `time` (Unix seconds). The file is opened for appending, line-buffered and
    flushed after each line, because the editor tails it while the script runs. Non-finite floats
    become null. With `enabled=False` (ranks other than 0) only `error` events are written, so a
    failure on any rank reaches the editor.

        metrics = Metrics("metrics.jsonl")
        metrics.emit("status", state="loading_model", message="loading gpt2")
        metrics.error(ScriptError("...", kind="bad_data", hint="..."))
    """

    def __init__(self, path: str | os.PathLike | None = "metrics.jsonl", stdout: bool = True, enabled: bool | None = None):
        self.enabled = is_main_process() if enabled is None else enabled
        self.stdout = stdout
        self.file = open(path, "a", buffering=1, encoding="utf-8") if path is not None else None

    def emit(self, event: str, **data) -> dict:
        """Writes one event (dropped on non-main ranks unless it is an error); returns the event."""
        record = clean_numbers({"event": event, "time": round(time.time(), 3), **data})
        if not self.enabled and event != "error":
            return record
        line = json.dumps(record, ensure_ascii=False, allow_nan=False)
        if self.file is not None:
            try:
                self.file.write(line + "\n")
                self.file.flush()
            except OSError:
                pass  # A full disk must not hide the original error; stdout still gets the line.
        if self.stdout:
            print(line, flush=True)
        return record

    def status(self, state: str, message: str | None = None, **data) -> dict:
        """A `status` event: starting, loading_model, tokenizing, training, evaluating, saving, merging, pushing."""
        if message is not None:
            data["message"] = message
        return self.emit("status", state=state, **data)

    def error(self, err: "ScriptError") -> dict:
        """The `error` event of a ScriptError (also logged on stderr)."""
        log(f"error ({err.kind}): {err}" + (f" - {err.hint}" if err.hint else ""))
        data = {"message": str(err), "kind": err.kind}
        if err.hint:
            data["hint"] = err.hint
        return self.emit("error", **data)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def log(message: str) -> None:
    """A human-readable line on stderr, with the time; the runner keeps stderr as train.log."""
    rank = os.environ.get("RANK")
    prefix = f"[{time.strftime('%H:%M:%S')}]" + (f" [rank {rank}]" if rank not in (None, "0") else "")
    print(f"{prefix} {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Errors


class ScriptError(Exception):
    """A failure the editor can explain: `kind` is one of ERROR_KINDS, `hint` says what to do."""

    def __init__(self, message: str, kind: str = "other", hint: str | None = None):
        super().__init__(message)
        self.kind = kind if kind in ERROR_KINDS else "other"
        self.hint = hint


class Cancelled(BaseException):
    """Raised by the SIGTERM handler; a BaseException so that library `except Exception` blocks let it through."""


def on_sigterm_cancel() -> None:
    """Makes SIGTERM (cancel, `kill -- -pgid`) raise Cancelled in the main thread, so the script can
    report `cancelled` and exit non-zero instead of vanishing mid-line."""

    def handler(signum, frame):
        raise Cancelled(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def _missing_module(exc: BaseException) -> str | None:
    name = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and name:
        return name.split(".")[0]
    return None


def classify_error(exc: BaseException) -> ScriptError:
    """Maps any exception to a ScriptError with a kind and a hint (a ScriptError is returned as is)."""
    if isinstance(exc, ScriptError):
        return exc
    if isinstance(exc, (Cancelled, KeyboardInterrupt)):
        return ScriptError("The run was cancelled.", kind="cancelled", hint="Start it again to train; finished checkpoints are kept in the run folder.")
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "out of memory" in low or type(exc).__name__ == "OutOfMemoryError":
        return ScriptError(
            f"The GPU ran out of memory: {str(exc).splitlines()[0] if str(exc) else text}",
            kind="oom",
            hint="Lower max_length, keep batch_size 1 (raise grad_accum instead), turn on gradient_checkpointing, use LoRA instead of full fine-tuning, or load_in_4bit.",
        )
    module = _missing_module(exc)
    if module:
        return ScriptError(
            f"A Python package is missing: {module}.",
            kind="missing_package",
            hint=f"Install it in the Python that runs the script (pip install {module}): Mnemo's src/python/requirements.txt lists every package its scripts need.",
        )
    if isinstance(exc, OSError) and (exc.errno == errno.ENOSPC or "no space left" in low):
        return ScriptError(f"The disk is full: {exc}", kind="disk_full", hint="Free space in the run folder's disk (old runs, checkpoints, the Hugging Face cache) and start again.")
    if "expected to have finished reduction in the prior iteration" in low or ("find_unused_parameters" in low and "ddp" in low.replace("distributeddataparallel", "ddp")):
        return ScriptError(
            "Training on several GPUs stopped: some of the model's parameters got no gradient in a step, which DDP was told not to expect.",
            kind="bad_config",
            hint="Set ddp_find_unused_parameters true in the training config (Mnemo turns it on by itself only for mixture-of-experts models), or train on one GPU.",
        )
    if "cuda" in low and ("no cuda gpus" in low or "not compiled with cuda" in low or "found no nvidia driver" in low):
        return ScriptError(f"No usable GPU: {exc}", kind="no_gpu", hint="Check `nvidia-smi` on the machine, and that the installed torch is a CUDA build.")
    return ScriptError(text, kind="other", hint="See train.log for the full traceback.")


# ---------------------------------------------------------------------------------------------
# Data


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The JSON objects of a JSONL file (blank lines skipped); a bad line is a bad_data ScriptError naming it."""
    p = Path(path)
    if not p.exists():
        raise ScriptError(f"{p} does not exist.", kind="bad_data", hint="Build the dataset first (Mnemo: Build Dataset) or fix the file name in the config.")
    rows = []
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ScriptError(f"{p.name} line {n} is not valid JSON: {e.msg}.", kind="bad_data", hint="Rebuild the dataset, or fix that line.") from None
            if not isinstance(row, dict):
                raise ScriptError(f"{p.name} line {n} is not a JSON object.", kind="bad_data", hint="Each line must be {\"messages\": [...]}.")
            rows.append(row)
    return rows


def check_messages(row: dict, where: str) -> list[dict]:
    """The `messages` of a dataset row, checked: a list of {role, content} with string content."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ScriptError(f"{where} has no \"messages\" list.", kind="bad_data", hint="Rows must be in the Hugging Face messages format: {\"messages\": [{\"role\": \"user\", \"content\": ...}, ...]}.")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
            raise ScriptError(f"{where} has a message that is not {{role: system|user|assistant, content: string}}: {json.dumps(m)[:200]}", kind="bad_data", hint="Rebuild the dataset, or fix that row.")
    return messages


# ---------------------------------------------------------------------------------------------
# Devices and precision


def pick_device(name: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'mps' on Apple silicon, else 'cpu'. Asking for cuda without one is a no_gpu error."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ScriptError(f"The config asks for {name} but torch sees no CUDA GPU (torch {torch.__version__}).", kind="no_gpu", hint="Check `nvidia-smi`, install a CUDA build of torch, or choose the CPU.")
    return name


def pick_dtype(precision: str, device: str):
    """The torch dtype for a precision setting: auto = bf16 on a GPU that supports it, else fp16 on CUDA, else fp32."""
    import torch

    if precision == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if cuda_bf16_native() else torch.float16
        return torch.float32
    table = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if precision not in table:
        raise ScriptError(f"precision must be auto, bf16, fp16 or fp32, not {precision!r}.", kind="bad_config")
    if precision == "fp16" and not device.startswith("cuda"):
        raise ScriptError("precision fp16 needs a CUDA GPU.", kind="bad_config", hint="Use precision auto or fp32 on the CPU.")
    if precision == "bf16" and device.startswith("cuda") and not cuda_bf16_native():
        raise ScriptError("This GPU does not support bf16.", kind="bad_config", hint="Use precision auto (fp16 on this GPU) or fp16.")
    return table[precision]


def cuda_bf16_native() -> bool:
    """True when the GPU computes in bf16 natively (Ampere and later). torch.cuda.is_bf16_supported()
    also says True on T4 / V100, where bf16 is emulated (slow, and no better than fp16 there)."""
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument (older than 2.3): ask the compute capability
        return torch.cuda.get_device_capability()[0] >= 8


def dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def pick_attn_implementation(requested: str, device: str, dtype) -> str:
    """'auto' -> flash_attention_2 when flash-attn is installed and the run is on CUDA in bf16/fp16, else sdpa."""
    import torch

    if requested != "auto":
        return requested
    if device.startswith("cuda") and dtype in (torch.bfloat16, torch.float16) and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


# ---------------------------------------------------------------------------------------------
# Models and tokenizers


def looks_like_path(model: str) -> bool:
    """A local path rather than a Hub id ("org/name"): starts with / . ~ or a drive, or has more than one slash."""
    return model.startswith(("/", ".", "~", "\\")) or (len(model) > 1 and model[1] == ":") or model.count("/") > 1 or os.path.exists(model)


def check_model_source(model: str, gguf_file: str | None = None) -> None:
    """Raises model_not_found for a local folder (or gguf_file inside it) that does not exist, before any slow load."""
    if not model:
        raise ScriptError("No model given.", kind="bad_config", hint="Set `model` to a Hugging Face id (e.g. HuggingFaceTB/SmolLM2-135M-Instruct) or a local folder.")
    if looks_like_path(model):
        p = Path(model).expanduser()
        if not p.exists():
            raise ScriptError(f"The model folder {model} does not exist.", kind="model_not_found", hint="Check the path (relative paths start from the run folder), or give a Hugging Face model id.")
        if gguf_file and not (p / gguf_file).exists():
            raise ScriptError(f"{gguf_file} is not in {model}.", kind="model_not_found", hint="gguf_file is a file name inside the `model` folder.")
        if not gguf_file and p.is_dir() and not (p / "config.json").exists() and not (p / "adapter_config.json").exists():
            ggufs = sorted(x.name for x in p.glob("*.gguf"))
            hint = f"It holds {', '.join(ggufs)}: set gguf_file." if ggufs else "Point `model` at a folder saved with save_pretrained (config.json and weights)."
            raise ScriptError(f"{model} has no config.json.", kind="model_not_found", hint=hint)


def _model_load_error(model: str, exc: BaseException) -> ScriptError:
    err = classify_error(exc)
    if err.kind != "other":
        return err
    text = str(exc)
    if isinstance(exc, OSError) or type(exc).__name__ in ("RepositoryNotFoundError", "HFValidationError", "GatedRepoError", "EntryNotFoundError", "LocalEntryNotFoundError"):
        gated = "gated" in text.lower() or "401" in text or "403" in text
        hint = (
            "The model is gated or private: accept its license on the Hub and set HF_TOKEN in the training environment."
            if gated
            else "Check the model id (org/name) or the local folder, and that the machine can reach the Hub (or has the model in its cache)."
        )
        return ScriptError(f"Could not load the model {model}: {text.splitlines()[0] if text else type(exc).__name__}", kind="model_not_found", hint=hint)
    return err


def load_tokenizer(model: str, gguf_file: str | None = None, padding_side: str | None = None):
    """The model's tokenizer (HF id, local folder, or `gguf_file` inside a folder), with a pad token.

    Falls back to PreTrainedTokenizerFast when AutoTokenizer cannot map the saved class (transformers 5
    writes "TokenizersBackend" for tokenizers built from a `tokenizers` object). A tokenizer with no
    pad token gets its eos (padding is masked out of the loss and attention anyway); one with no chat
    template gets fallback_template's (logged: a base model learns it from the data)."""
    check_model_source(model, gguf_file)
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    kw = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, **kw)
    except Exception as first:  # noqa: BLE001 - retried below, reported if that fails too
        if gguf_file or not looks_like_path(model):
            raise _model_load_error(model, first) from first
        try:
            tokenizer = PreTrainedTokenizerFast.from_pretrained(model)
        except Exception:  # noqa: BLE001
            raise _model_load_error(model, first) from first
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = fallback_template(tokenizer)
        how = "ChatML" if tokenizer.chat_template == CHATML_TEMPLATE else f"ChatML markers as text, each answer ending with the eos token {tokenizer.eos_token}"
        log(f"{model} has no chat template: using {how} (a base model learns it from the data)")
    if padding_side:
        tokenizer.padding_side = padding_side
    return tokenizer


def load_model(model: str, gguf_file: str | None = None, dtype=None, attn_implementation: str | None = None, quantization_config=None, device_map=None):
    """AutoModelForCausalLM from a Hub id, a local folder, or `gguf_file` inside a folder (dequantized to `dtype`).

    Errors come back as ScriptError: model_not_found for a wrong id or path, missing_package, oom.
    An `attn_implementation` the model does not support falls back to sdpa, then eager (logged)."""
    check_model_source(model, gguf_file)
    from transformers import AutoModelForCausalLM

    kw = {}
    if gguf_file:
        kw["gguf_file"] = gguf_file
        gguf_config = _dense_gguf_config(gguf_file)
        if gguf_config is not None and quantization_config is None:
            kw["quantization_config"] = gguf_config
    if dtype is not None:
        kw["dtype"] = dtype
    if quantization_config is not None:
        kw["quantization_config"] = quantization_config
    if device_map is not None:
        kw["device_map"] = device_map
    tries = [attn_implementation] if attn_implementation else [None]
    if attn_implementation == "flash_attention_2":
        tries.append("sdpa")
    if attn_implementation in ("flash_attention_2", "sdpa"):
        tries.append("eager")
    for i, attn in enumerate(tries):
        try:
            extra = {"attn_implementation": attn} if attn else {}
            loaded = AutoModelForCausalLM.from_pretrained(model, **kw, **extra)
            if gguf_file:
                _drop_gguf_quantizer(loaded)
            return loaded
        except (ValueError, ImportError) as e:
            if i + 1 < len(tries) and ("attn" in str(e).lower() or "attention" in str(e).lower() or "flash" in str(e).lower()):
                log(f"attention {attn} not available for this model ({str(e).splitlines()[0]}): trying {tries[i + 1]}")
                continue
            raise _model_load_error(model, e) from e
        except Exception as e:  # noqa: BLE001 - classified
            raise _model_load_error(model, e) from e
    raise AssertionError("unreachable")


def _dense_gguf_config(gguf_file: str):
    """transformers >= 5.2x keeps GGUF weights packed unless asked to unpack them (GgufConfig(dequantize=True));
    older 5.x always unpacks and has no such option (None)."""
    try:
        from transformers import GgufConfig
    except ImportError:
        return None
    try:
        return GgufConfig(gguf_file=gguf_file, dequantize=True)
    except TypeError:
        return None


def _drop_gguf_quantizer(model) -> None:
    """A GGUF model unpacked into dense weights is an ordinary model, but transformers keeps its GGUF
    quantizer attached, which refuses training ("not trainable") and saving ("not serializable").
    Detach it when the weights are dense; packed weights (a GGUF kernel in use) are left alone."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return
    config = getattr(quantizer, "quantization_config", None)
    method = str(getattr(config, "quant_method", ""))
    if "gguf" in method.lower() and getattr(config, "dequantize", True):
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config


MOE_CONFIG_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts", "num_experts_per_tok")


def has_unused_branches(model) -> bool:
    """True for models whose steps can leave parameters without a gradient (mixture-of-experts: an
    expert no token was routed to), where DDP needs find_unused_parameters; dense models do not, and
    for them the check would only cost time each step."""
    config = getattr(model, "config", None)
    configs = [config] + [getattr(config, name, None) for name in ("text_config", "language_config")]
    for c in configs:
        for key in MOE_CONFIG_KEYS:
            value = getattr(c, key, None) if c is not None else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 1:
                return True
    return False


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        if hasattr(p, "ds_numel"):
            n = p.ds_numel
        # A 4-bit parameter packs two values per byte.
        if p.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


# ---------------------------------------------------------------------------------------------
# Chat template
#
# One idea serves training and generation alike: where an assistant's answer starts and ends is read
# off the model's own rendering of the conversation. The answer's text is replaced by a sentinel,
# the conversation rendered, and what comes before the sentinel is the context the model sees,
# what follows it up to the end-of-turn token is what the model must learn to write after the
# answer. Training labels exactly that; generation feeds exactly that context (render_question,
# encode_prompt) and stops on exactly that token (stop_token_ids). Templates that render earlier
# turns differently from the last one (Phi-3's final eos, Qwen3's empty think block, DeepSeek's
# generation prompt that never appears in a conversation, Mistral's system text moved to the last
# user turn) are handled because nothing relies on the rendering of a prefix being a prefix.

SENTINEL = "Mnemo7answer"  # stands for an answer: letters only, so no template trims or splits it

# Base models have no chat template. Their tokenizer rarely has <|im_start|> / <|im_end|> tokens,
# and written as text those become sub-word pieces the model cannot learn to stop on. So the
# fallback keeps ChatML's markers as text for structure but ends each assistant turn with the
# tokenizer's own eos token: one token, pretrained as "the text ends here", with no new embedding
# rows to train and save (an adapter stays a plain LoRA over the unchanged base, which eval.py,
# merging and GGUF conversion load as they are). Generation also stops on the markers as strings.
BASE_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% else %}{{ '<|im_end|>' }}{% endif %}{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_MARKERS = ("<|im_end|>", "<|im_start|>")


def fallback_template(tokenizer) -> str:
    """The chat template for a tokenizer that has none: ChatML when <|im_end|> is one token of its
    vocabulary (then it is learned and stopped on like any template's end token), else BASE_TEMPLATE."""
    if _single_token_id(tokenizer, "<|im_end|>") is not None or tokenizer.eos_token is None:
        return CHATML_TEMPLATE
    return BASE_TEMPLATE


def _single_token_id(tokenizer, text: str) -> int | None:
    """The id of `text` when the tokenizer has it as one token (special or added), else None."""
    try:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    except Exception:  # noqa: BLE001 - an odd tokenizer: treat as absent
        return None
    return ids[0] if len(ids) == 1 and tokenizer.convert_ids_to_tokens(ids[0]) == text else None


def _special_ids(tokenizer) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    for i, tok in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(tok, "special", False):
            ids.add(int(i))
    return ids


def describe_template(tokenizer) -> str:
    """'the chat template of NAME (Llama-3 style)': how error messages name a template."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):
        template = template.get("default", "") or ""
    styles = [
        ("<|start_header_id|>", "Llama-3"), ("<start_of_turn>", "Gemma"), ("<|im_start|>", "ChatML"),
        ("<｜Assistant｜>", "DeepSeek"), ("<|assistant|>", "Phi-3"), ("[INST]", "Mistral/Llama-2"),
    ]
    style = next((name for marker, name in styles if marker in template), None)
    name = getattr(tokenizer, "name_or_path", "") or "this tokenizer"
    return f"the chat template of {name}" + (f" ({style} style)" if style else "")


def _template_error(tokenizer, exc: BaseException, messages: list[dict]) -> ScriptError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    roles = "/".join(m["role"] for m in messages)
    if messages and messages[0]["role"] == "system" and "system" in text.lower():
        return system_refused_error(tokenizer, text)
    return ScriptError(
        f"{describe_template(tokenizer)} refused a conversation ({roles}): {text}",
        kind="bad_data",
        hint="Rows must be user/assistant turns in alternation (an optional system message first); rebuild the dataset, or fix that row.",
    )


def system_refused_error(tokenizer, why: str = "") -> ScriptError:
    return ScriptError(
        f"{describe_template(tokenizer)} does not take a system message" + (f" ({why})" if why else "") + ".",
        kind="bad_data",
        hint="Set fold_system true in the training config to put the system text at the start of the first user turn "
        "(eval.py then renders questions the same way), or clear the dataset's system prompt.",
    )


def render_chat(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The chat template's text for `messages` (not tokenized). With add_generation_prompt the text
    ends with the template's generation prompt. Qwen3-style templates get enable_thinking=False
    (other templates ignore it). A template that raises is a bad_data ScriptError naming it."""
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt, enable_thinking=False)
    except ScriptError:
        raise
    except Exception as e:  # noqa: BLE001 - jinja2 TemplateError (raise_exception) and template bugs alike
        if type(e).__name__ in ("TemplateError", "TemplateSyntaxError", "UndefinedError", "TypeError", "ValueError"):
            raise _template_error(tokenizer, e, messages) from e
        raise


def takes_system(tokenizer) -> bool:
    """False when the template refuses a system message (raises, as Gemma 2 and Mistral v0.1 do) or drops it."""
    key = (id(tokenizer), str(getattr(tokenizer, "chat_template", "")))
    if key not in _SYSTEM_CACHE:
        probe = "Mnemo7system"
        try:
            text = tokenizer.apply_chat_template([{"role": "system", "content": probe}, {"role": "user", "content": "Hi"}], tokenize=False, enable_thinking=False)
            _SYSTEM_CACHE[key] = probe in text
        except Exception:  # noqa: BLE001 - any refusal
            _SYSTEM_CACHE[key] = False
    return _SYSTEM_CACHE[key]


_SYSTEM_CACHE: dict = {}


def fold_system(messages: list[dict]) -> list[dict]:
    """The system message's text put at the start of the first user turn ("system\\n\\nuser")."""
    if not messages or messages[0]["role"] != "system":
        return list(messages)
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    for m in rest:
        if m["role"] == "user":
            m["content"] = f"{system}\n\n{m['content']}" if system else m["content"]
            return rest
    return rest


def prepare_messages(tokenizer, messages: list[dict], fold: bool = False) -> list[dict]:
    """`messages` ready for the template: a system message on a template that refuses one is folded
    into the first user turn when `fold`, else a bad_data error saying so."""
    if messages and messages[0]["role"] == "system" and not takes_system(tokenizer):
        if not fold:
            raise system_refused_error(tokenizer)
        return fold_system(messages)
    return messages


def _with_sentinel(messages: list[dict], i: int) -> list[dict]:
    out = [dict(m) for m in messages]
    out[i]["content"] = SENTINEL
    return out


def end_of_turn_ids(tokenizer) -> list[int]:
    """The special token the template writes right after an assistant's answer (`<|im_end|>`,
    `<|eot_id|>`, `<end_of_turn>`, `<|end|>`, `</s>`, ...), as a one-element list; [] when the
    answer is followed by plain text only."""
    key = (id(tokenizer), str(getattr(tokenizer, "chat_template", "")), len(tokenizer), tokenizer.eos_token_id)
    if key in _EOT_CACHE:
        return _EOT_CACHE[key]
    found: list[int] = []
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": SENTINEL}], tokenize=False, enable_thinking=False)
    except Exception:  # noqa: BLE001 - a template that cannot render a plain exchange has no end token to find
        text = ""
    at = text.find(SENTINEL)
    if at >= 0:
        tail = text[at + len(SENTINEL):]
        special = _special_ids(tokenizer)
        for t in tokenizer(tail, add_special_tokens=False)["input_ids"]:
            if t in special:
                found = [int(t)]
                break
            if tokenizer.decode([t]).strip():
                break  # text before any special token: no end-of-turn token
    _EOT_CACHE[key] = found
    return found


_EOT_CACHE: dict = {}


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """Every token generation stops on: the model's generation_config eos ids, the tokenizer's eos
    and the chat template's end-of-turn token, deduplicated (in that order)."""
    out: list[int] = []

    def add(value):
        if value is None:
            return
        for v in value if isinstance(value, (list, tuple, set)) else [value]:
            if v is not None and int(v) not in out:
                out.append(int(v))

    if model is not None:
        add(getattr(getattr(model, "generation_config", None), "eos_token_id", None))
    add(tokenizer.eos_token_id)
    add(end_of_turn_ids(tokenizer))
    return out


def stop_strings(tokenizer) -> list[str]:
    """End markers the template writes as text (ChatML markers on a tokenizer without those tokens):
    generation stops on them as strings too, and answers are cut there."""
    template = str(getattr(tokenizer, "chat_template", "") or "")
    return [m for m in CHATML_MARKERS if m in template and _single_token_id(tokenizer, m) is None]


def prompt_before_answer(tokenizer, messages: list[dict]) -> str:
    """The text the model sees before it writes an answer to `messages` (which end with a user turn):
    the conversation with one more assistant turn rendered, cut where that turn's text starts.
    For most templates this is the generation prompt; for DeepSeek-R1 (whose generation prompt adds
    "<think>\\n", which no rendered conversation has) and Qwen3 (whose last answer follows an empty
    think block) it is what training saw, which the generation prompt is not."""
    text = render_chat(tokenizer, messages + [{"role": "assistant", "content": SENTINEL}])
    at = text.find(SENTINEL)
    if at < 0 or text.count(SENTINEL) != 1:
        raise ScriptError(f"{describe_template(tokenizer)} does not render an assistant turn as written.", kind="bad_data", hint="Use a model whose chat template renders messages as they are (most do).")
    return text[:at]


def render_question(tokenizer, question: str, system_prompt: str | None = None) -> str:
    """The prompt for one question, exactly as training renders the context of a one-turn row's
    answer. A system prompt on a template that refuses one is folded into the question, the only
    way training could have used it (fold_system)."""
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [{"role": "user", "content": question}]
    return prompt_before_answer(tokenizer, prepare_messages(tokenizer, messages, fold=True))


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """The token ids of `prompt` as training tokenized that context: the prompt is tokenized with an
    answer after it and cut before the first token that reaches into the answer. (Tokenized alone,
    a prompt's trailing "\\n\\n" or " " can merge differently than when text follows it.)"""
    text = prompt + SENTINEL
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    for k, (s, e) in enumerate(enc["offset_mapping"]):
        if max(e, s + 1) > len(prompt):
            return ids[:k]
    return ids


def greedy_generate(model, tokenizer, prompts: list[str], max_new_tokens: int, device, extra_stops: list[str] | None = None) -> list[tuple[str, str]]:
    """Greedy answers to `prompts` (texts from render_question), batched with left padding:
    (answer stripped, finish_reason) each, finish_reason "stop" when the model ended its turn (a
    stop_token_ids token, a stop string, or one of `extra_stops`) and "length" when it hit
    max_new_tokens. The model's own repetition_penalty / no_repeat_ngram_size are reset (a penalty
    on the question's words is wrong for recall) and sampling is off."""
    import copy

    import torch

    stops = stop_token_ids(tokenizer, model)
    strings = list(dict.fromkeys(list(extra_stops or []) + stop_strings(tokenizer)))
    rows = [encode_prompt(tokenizer, p) for p in prompts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stops[0] if stops else 0)
    width = max(len(r) for r in rows)
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], dtype=torch.long, device=device)
    attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long, device=device)
    gc = copy.deepcopy(model.generation_config)
    for name, value in (("temperature", 1.0), ("top_p", 1.0), ("top_k", 50), ("typical_p", 1.0), ("min_p", None)):
        if hasattr(gc, name):
            setattr(gc, name, value)
    gc.do_sample = False
    gc.num_beams = 1
    gc.repetition_penalty = 1.0
    gc.no_repeat_ngram_size = 0
    gc.eos_token_id = stops or None
    gc.pad_token_id = pad
    gc.max_new_tokens = max_new_tokens
    gc.max_length = None
    kwargs = {"stop_strings": strings, "tokenizer": tokenizer} if strings else {}
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=attention, generation_config=gc, **kwargs)
    stop_set = set(stops)
    results = []
    for row in out[:, width:].tolist():
        finish = "length"
        for k, t in enumerate(row):
            if t in stop_set:
                row, finish = row[:k], "stop"
                break
        text = tokenizer.decode(row, skip_special_tokens=True)
        cut = min((text.find(s) for s in strings if s in text), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        if finish == "length" and len(row) < max_new_tokens:
            finish = "stop"  # ended early on padding (a stop string matched inside generate)
        results.append((text.strip(), finish))
    return results


@dataclass
class ChatTokens:
    """One tokenized conversation. labels[i] == input_ids[i] on assistant tokens, -100 elsewhere."""

    input_ids: list[int]
    labels: list[int]
    text: str  # the rendered conversation
    assistant_spans: list[tuple[int, int]] = field(default_factory=list)  # character ranges of `text` that carry the loss

    @property
    def target_tokens(self) -> int:
        return sum(1 for x in self.labels if x != -100)


def assistant_spans(tokenizer, messages: list[dict], text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` (the full rendering) holding each assistant turn: its text as the
    template renders it and the end-of-turn token that follows (`<|im_end|>`, `<|eot_id|>`, ...).

    Turn i is found by rendering the conversation again with turn i's text replaced by SENTINEL:
    that rendering is P + SENTINEL + R, and the full one must be P + answer + R, with the answer
    the turn's text (the template may trim whitespace). The span is the answer plus R's leading
    end-of-turn token (whitespace before it allowed; Phi-3's trailing newline and eos are not part
    of it). Anything else is a bad_data error naming the template, never a guessed mask: a template
    that changes the answer's text, renders other turns differently when one changes, or writes
    no end-of-turn token after an answer (the model could not learn to stop)."""
    stops = [tokenizer.convert_ids_to_tokens(t) for t in end_of_turn_ids(tokenizer)]
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue

        def fail(why: str) -> ScriptError:
            return ScriptError(
                f"Cannot label assistant turn {i + 1} with {describe_template(tokenizer)}: {why}.",
                kind="bad_data",
                hint="The loss would fall on the wrong tokens, so training stops here. Use a model with a standard chat template, or report the template.",
            )

        probe = render_chat(tokenizer, _with_sentinel(messages, i))
        if probe.count(SENTINEL) != 1:
            raise fail("the template does not render the answer once, as written")
        at = probe.find(SENTINEL)
        before, after = probe[:at], probe[at + len(SENTINEL):]
        if not (text.startswith(before) and text.endswith(after) and len(before) + len(after) <= len(text)):
            raise fail("the rest of the conversation renders differently when this answer changes")
        start, end = len(before), len(text) - len(after)
        if text[start:end].strip() != m["content"].strip():
            raise fail("the template changes the answer's text")
        marker = None
        for s in stops:
            k = after.find(s)
            if k >= 0 and not after[:k].strip() and (marker is None or k < marker[0]):
                marker = (k, len(s))
        if marker is None:
            raise fail(f"no end-of-turn token ({', '.join(stops) or 'none known'}) follows the answer, so the model could not learn to stop")
        end += marker[0] + marker[1]
        if end > start:
            spans.append((start, end))
    return spans


def tokenize_chat(tokenizer, messages: list[dict], fold: bool = False) -> ChatTokens:
    """Renders `messages` with the chat template and tokenizes it once, labelling only assistant tokens.

    Why not apply_chat_template(return_assistant_tokens_mask=True): it needs `{% generation %}` blocks,
    which most templates lack, and then returns an all-zero mask that trains on nothing without failing.
    Here every token whose characters overlap an assistant span (see assistant_spans) is a target,
    which includes the end-of-turn token, so the model learns to stop. The text is tokenized with
    add_special_tokens=False because the template already writes BOS where the model wants it.
    A system message on a template that refuses one is folded into the first user turn when `fold`
    (fold_system), else a bad_data error. Truncation is left to the caller (train.py reports it)."""
    messages = prepare_messages(tokenizer, messages, fold)
    text = render_chat(tokenizer, messages)
    spans = assistant_spans(tokenizer, messages, text)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [-100] * len(ids)
    j = 0
    for t, (s, e) in enumerate(enc["offset_mapping"]):
        while j < len(spans) and spans[j][1] <= s:
            j += 1
        if j < len(spans) and s < spans[j][1] and max(e, s + 1) > spans[j][0]:
            labels[t] = ids[t]
    return ChatTokens(input_ids=ids, labels=labels, text=text, assistant_spans=spans)
