"""``cdan`` / ``cdan+e``: conditional domain-adversarial training (Long et al., 2018).

Like DANN, but the discriminator sees the multilinear map f (x) g of the features f and the
(detached) softmax predictions g, so it aligns the joint of features and classes. ``cdan+e``
weights each example by 1 + exp(-H(g)) (confident predictions count more). When d x classes
exceeds ``max_outer_dim`` the paper's randomized map is used instead of the outer product.
"""
import torch.nn.functional as F
from pydantic import Field

from bench.strategies._alignment import RandomizedMultilinear, cdan_map, domain_adversarial_loss, entropy_weights, grad_reverse
from bench.strategies.base import STRATEGIES
from bench.strategies.dann import DANN, DANNHparams


class CDANHparams(DANNHparams):
    entropy: bool = False
    max_outer_dim: int = Field(4096, ge=1)
    random_dim: int = Field(1024, ge=1)


@STRATEGIES.register("cdan")
class CDAN(DANN):
    Hparams = CDANHparams

    def setup(self) -> None:
        d, c = self.model.feature_dim, self.ctx.num_classes
        # the paper's randomized map when the outer product would be too wide; None: the outer product
        self.random_map = (RandomizedMultilinear(d, c, self.hp.random_dim).to(self.ctx.device)
                           if d * c > self.hp.max_outer_dim else None)
        super().setup()  # builds the discriminator on disc_input_dim()

    def disc_input_dim(self) -> int:
        return self.hp.random_dim if self.random_map is not None else self.model.feature_dim * self.ctx.num_classes

    def joint(self, f, logits):
        g = F.softmax(logits, dim=1).detach()
        h = self.random_map(f, g) if self.random_map is not None else cdan_map(f, g)
        return grad_reverse(h, self.lam), (entropy_weights(g) if self.hp.entropy else None)

    def transfer_loss(self, fs, ft, ls, lt):
        (hs, ws), (ht, wt) = self.joint(fs, ls), self.joint(ft, lt)
        return domain_adversarial_loss(self.disc, hs, ht, ws, wt)


class CDANEHparams(CDANHparams):
    entropy: bool = True


@STRATEGIES.register("cdan+e")
class CDANE(CDAN):
    Hparams = CDANEHparams
