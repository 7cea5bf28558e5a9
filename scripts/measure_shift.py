"""Measure how informative the embedded image shifts are, with the harness's small CNN.

For each seed: train on synth-digits train, report synth-digits test (source skill) and digits test
(source-only target accuracy); train on digits train, report digits test (the target-supervised
ceiling). Then digits -> digits-c/<corruption>: the digits model on the corrupted test set
(source-only) against the same CNN trained on the corrupted train set (ceiling).

    /work/main/.venv/bin/python scripts/measure_shift.py --seeds 0 1 2 --steps 800
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, no install needed
from bench.data import load_domain
from bench.data.digits_c import CORRUPTIONS, DEFAULT_CORRUPTION
from bench.data.synth_digits import PARAMS, build_synth_digits


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def train(split, seed: int, steps: int, batch: int = 64, lr: float = 1e-3) -> nn.Module:
    torch.manual_seed(seed)
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(split), generator=gen), 0
    model.train()
    for _ in range(steps):
        if pos + batch > len(order):  # reshuffle each epoch, drop the ragged tail
            order, pos = torch.randperm(len(split), generator=gen), 0
        idx = order[pos : pos + batch]
        pos += batch
        loss = nn.functional.cross_entropy(model(split.x[idx]), split.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, split) -> float:
    return 100.0 * (model(split.x).argmax(1) == split.y).float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--corruption", default=DEFAULT_CORRUPTION, help="digits-c corruption[-severity]")
    ap.add_argument("--all-corruptions", action="store_true",
                    help="also evaluate the digits model on every corruption at severities 1, 3, 5")
    ap.add_argument("--params", default="{}", help="JSON overrides of synth_digits.PARAMS (tuning)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the machine is shared

    synth = build_synth_digits("synth-digits", {**PARAMS, **json.loads(args.params)})
    digits = load_domain("digits")
    corrupted = load_domain(f"digits-c/{args.corruption}")
    rows = []
    for seed in args.seeds:
        t0 = time.time()
        m_syn = train(synth.train, seed, args.steps)
        m_dig = train(digits.train, seed, args.steps)
        m_cor = train(corrupted.train, seed, args.steps)
        row = {
            "synth_src": accuracy(m_syn, synth.test),
            "synth->digits": accuracy(m_syn, digits.test),
            "digits_ceiling": accuracy(m_dig, digits.test),
            "digits->c": accuracy(m_dig, corrupted.test),
            "c_ceiling": accuracy(m_cor, corrupted.test),
        }
        rows.append(row)
        print(f"seed {seed}: " + "  ".join(f"{k} {v:5.1f}" for k, v in row.items())
              + f"  ({time.time() - t0:.0f}s)", flush=True)
        if args.all_corruptions:
            for c in CORRUPTIONS:
                accs = [accuracy(m_dig, load_domain(f"digits-c/{c}-{s}").test) for s in (1, 3, 5)]
                print(f"    digits->digits-c/{c:15s} sev1/3/5: " + " ".join(f"{a:5.1f}" for a in accs))
    print(f"mean over {len(rows)} seeds (c = digits-c/{args.corruption}):")
    for k in rows[0]:
        vals = np.array([r[k] for r in rows])
        print(f"  {k:15s} {vals.mean():5.1f}  (sd {vals.std(ddof=1) if len(vals) > 1 else 0:.1f})")


if __name__ == "__main__":
    main()
