"""``dg_dann``: domain-adversarial training over the *source* domains (Ganin et al., JMLR 2016), as
DomainBed's ``DANN`` computes it; the held-out target is never seen. (``dann`` is the
domain-adaptation one: source vs the target's unlabelled images.)

DomainBed's ``DANN`` and ``CDANN`` are one class, ``AbstractDANN``, with two flags: DANN's
discriminator sees the features z alone (not z + e(y)) and its loss is the plain mean
cross-entropy over source-domain labels (no class balancing). Everything else is ``cdann``'s:
the same MLP discriminator, gradient penalty, alternation of discriminator and generator steps,
Adam betas (``beta1``, 0.9), hyper-parameters and search space (DomainBed's registry gives DANN and
CDANN the same ones). The class embedding is still built and handed to the discriminator's
optimiser, as in DomainBed, where it never receives a gradient."""
from __future__ import annotations

from bench.strategies.base import STRATEGIES
from bench.strategies.cdann import CDANN


@STRATEGIES.register("dg_dann")
class DGDANN(CDANN):
    conditional = False
    class_balance = False
