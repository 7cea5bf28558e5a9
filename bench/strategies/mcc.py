"""``mcc``: minimum class confusion (Jin et al., 2020) on the unlabelled target predictions.

The loss is the off-diagonal mass of the entropy-weighted, row-normalised class-correlation matrix
of temperature-scaled target predictions: it discourages the classifier from confusing classes
on the target, without any domain discriminator.
"""
from pydantic import Field

from bench.strategies._alignment import mcc
from bench.strategies._uda import UDAHparams, UDAStrategy
from bench.strategies.base import STRATEGIES


class MCCHparams(UDAHparams):
    temperature: float = Field(2.5, gt=0)


@STRATEGIES.register("mcc")
class MCC(UDAStrategy):
    Hparams = MCCHparams

    def transfer_loss(self, fs, ft, ls, lt):
        return mcc(lt, self.hp.temperature)
