"""Reduced text configuration of suites/peft.yaml (CPU time on a shared 2-core machine)."""
import os, sys
os.environ["HF_HUB_OFFLINE"] = "1"
from bench.backbones import BackboneSpec
from bench.runner import run_suite
from bench.suite import Pair, TrainConfig, load_suite
suite = load_suite("suites/peft.yaml")
part = suite.model_copy(update={
    "backbones": [BackboneSpec(name="hf/minilm", pretrained=True, kwargs={"max_length": 24})],
    "pairs": [Pair(source="sentiment/products@100", target="sentiment/movies@100")],
    "seeds": [0], "threads": 1,
    "source": TrainConfig(steps=40, batch_size=16, lr=3e-4, optimizer="adamw"),
    "adapt": TrainConfig(steps=30, batch_size=16, lr=1e-4, optimizer="adamw")})
s = run_suite(part, sys.argv[1], device="cpu", show_progress=False)
print(s.statuses, flush=True)
