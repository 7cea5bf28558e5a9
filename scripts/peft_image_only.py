"""suites/peft.yaml with only its image backbone (the measured image table of docs/peft-and-forgetting.md)."""
import os, sys
os.environ["HF_HUB_OFFLINE"] = "1"
from bench.runner import run_suite
from bench.suite import load_suite
suite = load_suite("suites/peft.yaml")
part = suite.model_copy(update={"backbones": suite.backbones[:1]})
s = run_suite(part, sys.argv[1], device="cpu", show_progress=False)
print(s.statuses, flush=True)
