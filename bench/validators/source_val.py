"""``source_val``: accuracy on labelled source-val (the classic, and DomainBed's "training-domain
validation"). It ignores the shift entirely, so it favours methods that do not hurt the source.
"""
from bench.validators import VALIDATORS, Probe


def accuracy(logits, y) -> float:
    """Percent of rows whose argmax equals the label (NaN without rows)."""
    if len(y) == 0:
        return float("nan")
    return 100.0 * (logits.argmax(1) == y).float().mean().item()


@VALIDATORS.register("source_val")
def source_val(probe: Probe) -> float:
    """highest accuracy on labelled source-val"""
    return accuracy(probe.source_val_logits, probe.source_val_y)
