"""Is the image loader fast enough not to starve training? Batches per second of the cached
loader (index the memory map + random-resized-crop/flip) against one training step.

Builds an Office-31-shaped fixture (31 classes of generated 300x300 JPEGs) in a temporary folder,
decodes it once into the cache, then times, on the chosen device:
  decode   cold cache build, images per second (threads = all cores)
  loader   Sampler.next() with augmentation, batches per second
  step     forward + backward + SGD step of a timm model on such a batch, steps per second

    python benchmarks/loader_throughput.py [--device cuda] [--model resnet50] [--batch 32]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--steps", type=int, default=3, help="timed training steps (after 1 warm-up)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    if args.threads:
        torch.set_num_threads(args.threads)
    from bench.backbones import BackboneSpec, create_model
    from bench.data import image_cache, load_domain
    from bench.data.office31 import CLASSES
    from bench.data.sampler import Sampler
    from bench.train.loop import sync

    tmp = Path(tempfile.mkdtemp(prefix="loader-bench-"))
    os.environ["BENCH_CACHE"], os.environ["BENCH_DATA"] = str(tmp / "cache"), str(tmp / "data")
    rng = np.random.default_rng(0)
    for c in CLASSES:
        folder = tmp / "data" / "office31" / "amazon" / "images" / c
        folder.mkdir(parents=True)
        for i in range(args.per_class):
            arr = rng.integers(0, 255, size=(300, 300, 3), dtype=np.uint8)
            Image.fromarray(arr).save(folder / f"frame_{i:04d}.jpg", quality=90)

    name = f"office31/amazon@{args.size}"
    t0 = time.perf_counter()
    d = load_domain(name)
    n = image_cache.DECODES.value
    decode_ips = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    load_domain(name)
    warm_s = time.perf_counter() - t0

    plain = Sampler(d.train.x, d.train.y, args.batch, 0, args.device)
    t0, k = time.perf_counter(), 20
    for _ in range(k):
        plain.next()
    sync(args.device)
    gather_bps = k / (time.perf_counter() - t0)

    sampler = Sampler(d.train.x, d.train.y, args.batch, 0, args.device, augment=d.train.augment)
    sampler.next()
    sync(args.device)
    t0, k = time.perf_counter(), 20
    for _ in range(k):
        x, y = sampler.next()
    sync(args.device)
    loader_bps = k / (time.perf_counter() - t0)

    model = create_model(BackboneSpec(name=f"timm/{args.model}", input_size=args.size),
                         num_classes=31).to(args.device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    sync(args.device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(args.device)
    step_sps = args.steps / (time.perf_counter() - t0)
    print(f"device={args.device} model={args.model} batch={args.batch} size={args.size} "
          f"threads={torch.get_num_threads()} images={n}")
    print(f"decode (cold cache)  {decode_ips:8.1f} images/s")
    print(f"reload (warm cache)  {warm_s * 1000:8.1f} ms for the domain (0 decodes)")
    print(f"loader, no augment   {gather_bps:8.1f} batches/s (memory-map gather + copy to device)")
    print(f"loader + augment     {loader_bps:8.1f} batches/s")
    print(f"training step        {step_sps:8.2f} steps/s")
    print(f"loader / step ratio  {loader_bps / step_sps:8.1f}x (>1: the loader keeps up)")


if __name__ == "__main__":
    main()
