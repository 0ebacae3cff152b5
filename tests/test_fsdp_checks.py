"""Settings FSDP2 cannot shard are refused before training, naming the setting and the fix."""

import pytest
import torch
from accelerate.utils import FullyShardedDataParallelPlugin
from tiny import make_tiny_model, make_tiny_tokenizer

from trl_maskft.runtime.fsdp_checks import fsdp2_sharding_problems, repeated_block_classes


@pytest.fixture
def model():
    return make_tiny_model(make_tiny_tokenizer())


def plugin(version=2, policy="transformer_based_wrap", classes=None):
    return FullyShardedDataParallelPlugin(
        fsdp_version=version, auto_wrap_policy=policy, transformer_cls_names_to_wrap=classes
    )


def test_shardable_tiny_llama_has_no_problem(model):
    assert repeated_block_classes(model) == ["LlamaDecoderLayer"]
    assert fsdp2_sharding_problems(model, plugin()) == []  # its `_no_split_modules`
    assert fsdp2_sharding_problems(model, plugin(classes=["LlamaDecoderLayer"])) == []
    assert fsdp2_sharding_problems(model, plugin(version=1, classes=["LLaDABlock"])) == []  # FSDP2 only


def test_layer_classes_the_model_lacks_or_none_at_all(model):
    # e.g. LLaDA's remote code lists LLaDABlock, LLaDASequentialBlock and LLaDALlamaBlock, and builds one of them
    (problem,) = fsdp2_sharding_problems(model, plugin(classes=["LLaDABlock", "LlamaDecoderLayer"]))
    assert "has no ['LLaDABlock']" in problem and "to the classes it has (LlamaDecoderLayer)" in problem
    model._no_split_modules = None
    (problem,) = fsdp2_sharding_problems(model, plugin())
    assert "no layer class to wrap" in problem and "every rank would gather all its parameters" in problem
    assert "decoder layer class (LlamaDecoderLayer)" in problem
    assert fsdp2_sharding_problems(model, plugin(policy="size_based_wrap")) == []


class Int8Params(torch.nn.Parameter):  # named like bitsandbytes' classes, which the check recognizes by name
    pass


class Params4bit(torch.nn.Parameter):
    pass


def test_quantized_weights_fsdp2_cannot_shard(model):
    layer = model.model.layers[0].mlp
    layer.up_proj.weight = Int8Params(layer.up_proj.weight.data.to(torch.int8), requires_grad=False)
    layer.down_proj.weight = Params4bit(layer.down_proj.weight.data.to(torch.uint8), requires_grad=False)
    problems = fsdp2_sharding_problems(model, plugin())
    assert len(problems) == 2
    assert "8-bit quantized weights (`load_in_8bit`) cannot be sharded by FSDP2" in problems[0]
    assert "`bnb_4bit_quant_storage: bfloat16`" in problems[1]
    layer.down_proj.weight = Params4bit(layer.down_proj.weight.data.float().bfloat16(), requires_grad=False)
    assert len(fsdp2_sharding_problems(model, plugin())) == 1  # floating 4-bit storage shards
