"""``cdann``: conditional domain-adversarial training over the *source* domains (Li et al., ECCV
2018, CIDDG), as DomainBed's ``CDANN`` computes it; the held-out target is never seen. (``dann`` and
``cdan`` are the domain-adaptation ones: source vs target.)

A discriminator (an MLP, DomainBed's ``networks.MLP``) predicts which source domain a feature came
from, conditioned on the class: its input is z + e(y), e a learnt class embedding. Its loss is the
class-balanced cross-entropy sum_i w_i CE(d(z_i + e(y_i)), domain_i), w_i = 1 / (n_(y_i) K) (K the
one-hot width of the batch's labels), plus ``grad_penalty`` x mean_i ||d CE_sum / d input_i||^2.
Steps alternate: while ``step_count % (1 + d_steps_per_g_step) < d_steps_per_g_step`` the
discriminator and embedding take an Adam step on that loss; otherwise the backbone and head take one
on CE(classifier) - ``lambda_d`` x the discriminator's loss. Both optimisers are Adam with betas
(``beta1``, 0.9), as DomainBed's, whatever the suite's ``adapt.optimizer`` says; the backbone's lr is
the strategy's lr, the discriminator's ``lr_d`` (None: the same)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.search import choice, int_range, loguniform
from bench.strategies._dg import DGStrategy
from bench.strategies.base import STRATEGIES, Hparams


def domain_loss(logits: torch.Tensor, domains: torch.Tensor, y: torch.Tensor, class_balance: bool) -> torch.Tensor:
    """DomainBed's discriminator loss: class-balanced (CDANN) or the plain mean cross-entropy (DANN)."""
    return balanced_domain_loss(logits, domains, y) if class_balance else F.cross_entropy(logits, domains)


def balanced_domain_loss(logits: torch.Tensor, domains: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sum_i CE(logits_i, domain_i) / (n_(y_i) K): every class weighs 1 / K in total."""
    counts = F.one_hot(y).sum(0)
    weights = 1.0 / (counts[y] * counts.shape[0]).float()
    return (weights * F.cross_entropy(logits, domains, reduction="none")).sum()


def input_gradient_penalty(logits: torch.Tensor, domains: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """mean_i ||d (sum_j CE_j) / d inputs_i||^2, differentiable (a penalty trained through)."""
    grad = torch.autograd.grad(F.cross_entropy(logits, domains, reduction="sum"), [inputs], create_graph=True)[0]
    return grad.pow(2).sum(1).mean()


def is_discriminator_step(count: int, d_steps_per_g_step: int) -> bool:
    """DomainBed's alternation over its update counter (1 at the first step)."""
    return count % (1 + d_steps_per_g_step) < d_steps_per_g_step


def mlp(n_in: int, n_out: int, width: int, depth: int, dropout: float) -> nn.Sequential:
    """DomainBed's ``networks.MLP``: ``depth`` linear layers, dropout and ReLU between them."""
    layers, dims = [], [n_in] + [width] * (depth - 1)
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.Dropout(dropout), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], n_out))


class CDANNHparams(Hparams):
    lambda_d: float = Field(1.0, ge=0)
    lr_d: float | None = Field(None, gt=0)
    weight_decay_d: float = Field(0.0, ge=0)
    d_steps_per_g_step: int = Field(1, ge=1)
    grad_penalty: float = Field(0.0, ge=0)
    beta1: float = Field(0.5, ge=0, lt=1)
    mlp_width: int = Field(256, ge=1)
    mlp_depth: int = Field(3, ge=2)
    mlp_dropout: float = Field(0.0, ge=0, lt=1)


@STRATEGIES.register("cdann")
class CDANN(DGStrategy):
    Hparams = CDANNHparams
    #: DomainBed's ``AbstractDANN`` flags: CDANN conditions on the class and balances it; DANN neither
    conditional = True
    class_balance = True
    search_space = {**DGStrategy.search_space, "lr_d": loguniform(10 ** -4.5, 10 ** -2.5),
                    "lambda_d": loguniform(1e-2, 1e2), "weight_decay_d": loguniform(1e-6, 1e-2),
                    "d_steps_per_g_step": int_range(1, 7), "grad_penalty": loguniform(1e-2, 1e1),
                    "beta1": choice([0.0, 0.5]), "mlp_width": int_range(64, 1023),
                    "mlp_depth": choice([3, 4, 5]), "mlp_dropout": choice([0.0, 0.1, 0.5])}

    def setup(self) -> None:
        super().setup()
        hp, dim, dev = self.hp, self.model.feature_dim, self.ctx.device
        self.disc = mlp(dim, max(2, self.num_domains), hp.mlp_width, hp.mlp_depth, hp.mlp_dropout).to(dev)
        self.embed = nn.Embedding(self.ctx.num_classes, dim).to(dev)
        betas = (hp.beta1, 0.9)
        self.disc_opt = torch.optim.Adam([*self.disc.parameters(), *self.embed.parameters()], lr=hp.lr_d or self.lr,
                                         weight_decay=hp.weight_decay_d, betas=betas)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.ctx.config.weight_decay,
                                    betas=betas)
        self.count = 0

    def extra_modules(self) -> list[nn.Module]:
        return [self.disc, self.embed]

    def update(self, step: int):
        self.count += 1
        batches = self.minibatches()
        x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
        domains = torch.cat([torch.full((len(b[1]),), i, dtype=torch.long, device=y.device)
                             for i, b in enumerate(batches)])
        z = self.model.features(x)
        disc_in = z + self.embed(y) if self.conditional else z
        out = self.disc(disc_in)
        disc_loss = domain_loss(out, domains, y, self.class_balance)
        if self.hp.grad_penalty:  # (at 0 the penalty adds exactly nothing: its double backward is skipped)
            disc_loss = disc_loss + self.hp.grad_penalty * input_gradient_penalty(out, domains, disc_in)
        if is_discriminator_step(self.count, self.hp.d_steps_per_g_step):
            self.disc_opt.zero_grad(set_to_none=True)
            disc_loss.backward()
            self.disc_opt.step()
            return {"loss": disc_loss.detach(), "disc_loss": disc_loss.detach()}
        cls = F.cross_entropy(self.model.head(z), y)
        gen_loss = cls - self.hp.lambda_d * disc_loss
        self.disc_opt.zero_grad(set_to_none=True)
        self.opt.zero_grad(set_to_none=True)
        gen_loss.backward()
        self.opt.step()
        return {"loss": gen_loss.detach(), "cls": cls.detach()}
