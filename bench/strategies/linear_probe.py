"""``linear_probe``: feature extraction. The backbone is frozen and a new head trains on its features.

Features of target-train are computed once per (source model, domain) and kept in the run's memo,
so every budget and every step reuses them: training costs only the head.
"""
import torch
import torch.nn.functional as F

from bench.data.base import batches
from bench.data.sampler import Sampler
from bench.strategies.base import STRATEGIES, Strategy


@torch.no_grad()
def extract_features(model, x, device: str, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    chunks = [model.features(xb) for _, xb in batches(x, device, batch_size)]
    return torch.cat(chunks).detach()


@STRATEGIES.register("linear_probe")
class LinearProbe(Strategy):
    needs_target_labels = True

    def setup(self) -> None:
        self.freeze_all_but_head()
        self.model.reset_head()
        key = f"features:{self.ctx.cache_key}:{self.ctx.target_domain}:train"
        if key not in self.ctx.cache:
            self.ctx.cache[key] = extract_features(self.model, self.ctx.target_unlabeled_x, self.ctx.device)
        feats = self.ctx.cache[key][self.ctx.target_labeled_idx.to(self.ctx.cache[key].device)]
        self.sampler = Sampler(feats, self.ctx.target_labeled.y, self.ctx.config.batch_size,
                               self.ctx.seed + 2, self.ctx.device)
        self.ctx.labeled = self.sampler  # so throughput counts the samples the head trains on
        self.opt = self.optimizer(self.model.head.parameters())

    def update(self, step: int) -> dict[str, float]:
        f, y = self.sampler.next()
        return self.step_loss(self.opt, F.cross_entropy(self.model.head(f), y))
