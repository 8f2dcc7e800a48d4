"""The smaller fixes of issue 19, each on the real code: precision (bf16 only where the GPU has it,
fp32 master weights for full fine-tuning), eval loss weighted by target tokens, DDP's unused
parameters, the union of stop tokens.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest src/python/tests/test_families_fixes.py -q
"""

from __future__ import annotations

import json

import pytest
from conftest import make_run, run_in_process

import common
import tiny_model


def test_auto_precision_ignores_emulated_bf16(monkeypatch):
    """On a T4 / V100 torch.cuda.is_bf16_supported() says True (bf16 is emulated there) unless asked
    with including_emulation=False; auto must then pick fp16, and bf16 asked for must be refused."""
    import torch

    def is_bf16_supported(including_emulation=True):  # what torch answers on a T4
        return including_emulation

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert common.pick_dtype("auto", "cuda") == torch.float16
    with pytest.raises(common.ScriptError) as err:
        common.pick_dtype("bf16", "cuda")
    assert err.value.kind == "bad_config"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # an A100
    assert common.pick_dtype("auto", "cuda") == torch.bfloat16


def test_full_fine_tuning_keeps_fp32_master_weights(tiny_model_dir, tmp_path, monkeypatch):
    """precision bf16, lr 1e-5, 4 AdamW steps: with bf16 weights most updates (about lr in size) are
    below half a bf16 step of the weight and vanish; with fp32 master weights nearly every weight moves."""
    import torch
    from safetensors.torch import load_file

    config = {
        "model": str(tiny_model_dir), "method": "full", "precision": "bf16", "learning_rate": 1e-5, "lr_scheduler": "constant",
        "max_steps": 4, "batch_size": 2, "max_length": 128, "gradient_checkpointing": False, "eval_file": None, "save_best": False,
    }
    run = make_run(tmp_path / "run", config, tiny_model.memo_rows())
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, [e for e in events if e["event"] == "error"]
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(run / "output" / "model.safetensors"))
    name = "model.layers.0.mlp.down_proj.weight"
    assert after[name].dtype == torch.float32
    changed = (after[name].float() != before[name].float()).float().mean().item()
    assert changed > 0.9, f"only {changed:.0%} of {name} changed"


def test_eval_loss_is_weighted_by_target_tokens(tiny_model_dir, tokenizer):
    """Three eval rows with answers of 2, 3 and 40-odd target tokens, batch size 2: eval_loss must be
    the mean over all target tokens, not the mean of the two batches' means."""
    import torch
    from transformers import AutoModelForCausalLM, Trainer

    import train

    long_answer = " ".join(tiny_model.RULEBOOK.read_text(encoding="utf-8").split()[:40])
    rows = [
        [{"role": "user", "content": "Q1?"}, {"role": "assistant", "content": "5."}],
        [{"role": "user", "content": "Q2?"}, {"role": "assistant", "content": "30 minutes."}],
        [{"role": "user", "content": "Q3?"}, {"role": "assistant", "content": long_answer}],
    ]
    examples = [{"input_ids": c.input_ids, "labels": c.labels} for c in (common.tokenize_chat(tokenizer, r) for r in rows)]
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for x in examples:
            ids = torch.tensor([x["input_ids"]])
            labels = torch.tensor([x["labels"]])
            logits = model(input_ids=ids).logits[0, :-1]
            target = labels[0, 1:]
            keep = target != -100
            total += torch.nn.functional.cross_entropy(logits[keep].float(), target[keep], reduction="sum").item()
            count += int(keep.sum())
    expected = total / count
    cfg = train.TrainConfig(model=str(tiny_model_dir), batch_size=2, eval_steps=0, save_best=False, eval_file="x")
    args = train.training_arguments(cfg, "cpu", torch.float32, True, None)
    trainer = train.token_weighted_trainer(Trainer)(model=model, args=args, eval_dataset=examples, data_collator=train.Collator(tokenizer.pad_token_id), processing_class=tokenizer)
    got = trainer.evaluate()["eval_loss"]
    assert got == pytest.approx(expected, rel=1e-4)
    plain = Trainer(model=model, args=args, eval_dataset=examples, data_collator=train.Collator(tokenizer.pad_token_id), processing_class=tokenizer).evaluate()["eval_loss"]
    assert abs(plain - expected) > 1e-3  # what the Trainer alone reports differs: the case is not trivial


def test_ddp_unused_parameters_decided_per_model(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, MixtralConfig, MixtralForCausalLM

    import train

    dense = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    moe = MixtralForCausalLM(MixtralConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=1))
    assert common.has_unused_branches(dense) is False
    assert common.has_unused_branches(moe) is True
    cfg = train.TrainConfig(model="x", ddp_find_unused_parameters=True)
    assert train.training_arguments(cfg, "cpu", torch.float32, False, None, True).ddp_find_unused_parameters is True
    # The error DDP raises when a step leaves a parameter without a gradient gets a hint that fixes it.
    err = common.classify_error(RuntimeError(
        "Expected to have finished reduction in the prior iteration before starting a new one. This error indicates that your module has parameters that were not used in producing loss. You can enable unused parameter detection by passing the keyword argument `find_unused_parameters=True` to `torch.nn.parallel.DistributedDataParallel`"
    ))
    assert err.kind == "bad_config" and "ddp_find_unused_parameters true" in err.hint


def test_ddp_unused_parameters_key_is_read_from_the_config(tiny_model_dir, tmp_path):
    import train

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": str(tiny_model_dir), "ddp_find_unused_parameters": None, "fold_system": True}))
    cfg = train.read_config(str(path))
    assert cfg.ddp_find_unused_parameters is None and cfg.fold_system is True


def test_stop_tokens_are_the_union(tokenizer):
    """generation_config eos ids (a list), the tokenizer's eos and the template's end-of-turn token, once each."""
    import copy

    from transformers import GenerationConfig

    tok = copy.deepcopy(tokenizer)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    endoftext = tok.convert_tokens_to_ids("<|endoftext|>")
    tok.eos_token = "<|endoftext|>"  # a base tokenizer's eos; the template still ends turns with <|im_end|>

    class Model:
        generation_config = GenerationConfig(eos_token_id=[endoftext, 7])

    assert common.stop_token_ids(tok, Model()) == [endoftext, 7, im_end]
    assert common.stop_token_ids(tok) == [endoftext, im_end]
