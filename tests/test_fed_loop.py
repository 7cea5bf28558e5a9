"""The GPU-shaped training loop on CPU: divergence found without a per-step sync, and a
prefetching sampler that hands out exactly the batches the plain one does."""
import pytest
import torch

from bench.data.image_cache import random_resized_crop_flip
from bench.data.sampler import Sampler
from bench.train.loop import Diverged, LossCheck, StepLoop


def losses_with_nan_at(bad: int, steps: int):
    calls = []

    def update(step):
        calls.append(step)
        value = torch.tensor(float("nan") if step == bad else 1.0 / (step + 1))
        return {"loss": value}
    return update, calls


@pytest.mark.parametrize("bad", [0, 7, 31, 32, 45])
def test_a_nan_loss_tensor_is_found_later_but_names_its_own_step(bad):
    update, calls = losses_with_nan_at(bad, 60)
    with pytest.raises(Diverged) as err:
        StepLoop(60, "cpu", check_every=32).run(update, lambda: 0)
    assert err.value.step == bad
    # the host read the losses only at the end of a block of 32 (or the end of the run)
    assert len(calls) == min(60, (bad // 32 + 1) * 32)


def test_the_first_bad_step_wins_and_host_floats_are_checked_at_once():
    check = LossCheck(every=100)
    check.add(0, torch.tensor(1.0))
    check.add(1, torch.tensor(float("inf")))
    check.add(2, torch.tensor(float("nan")))
    with pytest.raises(Diverged) as err:
        check.add(3, float("nan"))  # a float is checked at once, after the pending tensors
    assert err.value.step == 1


def test_an_exception_after_a_nan_is_reported_as_the_divergence():
    def update(step):
        if step == 5:
            raise ValueError("probability tensor contains nan")  # what NaN logits cause later
        return {"loss": torch.tensor(float("nan") if step == 3 else 1.0)}

    with pytest.raises(Diverged) as err:
        StepLoop(20, "cpu").run(update, lambda: 0)
    assert err.value.step == 3


def test_a_checkpoint_never_sees_a_run_that_already_diverged():
    seen = []
    update, _ = losses_with_nan_at(2, 20)
    with pytest.raises(Diverged):
        StepLoop(20, "cpu").run(update, lambda: 0, checkpoint=seen.append, every=5)
    assert seen == []


def batches(sampler, n):
    return [sampler.next() for _ in range(n)]


def same(a, b):
    if isinstance(a, tuple):
        return all(same(u, v) for u, v in zip(a, b))
    return torch.equal(a, b)


@pytest.mark.parametrize("labelled", [True, False])
@pytest.mark.parametrize("augment", [None, random_resized_crop_flip])
def test_prefetching_gives_exactly_the_batches_of_the_plain_sampler(labelled, augment):
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (50, 3, 12, 12), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 5, (50,), generator=gen) if labelled else None
    plain = Sampler(x, y, 16, seed=3, device="cpu", augment=augment, prefetch=False)
    ahead = Sampler(x, y, 16, seed=3, device="cpu", augment=augment, prefetch=True)
    # 12 batches of 16 from 50 examples: several epochs, reshuffled at each boundary
    for a, b in zip(batches(plain, 12), batches(ahead, 12)):
        assert same(a, b)
    assert plain.samples == ahead.samples == 12 * 16  # the batch prepared ahead is not counted


def test_prefetch_is_on_only_for_cuda_by_default_and_an_empty_split_still_says_so():
    x = torch.zeros(4, 1, 2, 2)
    assert not Sampler(x, None, 2, 0, "cpu").prefetch
    assert Sampler(x, None, 2, 0, "cuda:0").prefetch
    empty = Sampler(x[:0], None, 2, 0, "cpu", prefetch=True)
    with pytest.raises(RuntimeError, match="empty split"):
        empty.next()


def test_the_timing_warm_up_is_50_steps_of_a_long_stage_and_5_of_a_short_one():
    # the anchor's rule (scripts/gpu_anchor.py times timm's script and the bare loop the same way):
    # a long stage keeps autotuning and allocator growth out of its window, a short one its steps in
    from bench.train.loop import timing_warmup

    assert [timing_warmup(n) for n in (0, 4, 10, 100, 499)] == [0, 0, 2, 5, 5]
    assert [timing_warmup(n) for n in (500, 550, 5000)] == [50, 50, 50]
    assert StepLoop(550, "cpu").warmup == 50 and StepLoop(300, "cpu").warmup == 5
    assert all(timing_warmup(n) <= n // 5 for n in range(2000))
