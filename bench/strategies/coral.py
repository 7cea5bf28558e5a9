"""``coral``: Deep CORAL (Sun & Saenko, 2016), ||C_S - C_T||_F^2 / (4 d^2) on the backbone features."""
from bench.strategies._alignment import coral
from bench.strategies._uda import UDAStrategy
from bench.strategies.base import STRATEGIES


@STRATEGIES.register("coral")
class CORAL(UDAStrategy):
    def transfer_loss(self, fs, ft, ls, lt):
        return coral(fs, ft)
