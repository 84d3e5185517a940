"""One training step: forward and backward (in micro-batches), the all-reduce, the guard's one
host synchronization, the careful replay of a bad step, and the update.

The guard reads **one** small tensor per step from the device: the loss sum and the sum of the
largest magnitudes (``torch._foreach_norm(..., inf)``, which propagates NaN and cannot overflow
for finite arrays) of every gradient and of every array. A finite result proves every gradient
finite and the arrays of the previous step finite; the loss value for the history comes with
it. Nothing else in a step reads the device. Only when the check fails is more work done:

1. arrays made non-finite by the previous step are restored from the copy taken before it;
2. otherwise the batch is re-run once on the careful path (``netgrad.ops.careful()``, and in
   float32 when training in mixed precision), with the random state it started from, so
   dropout draws the same masks: ops that are optimistic on the fast path (matmul, products,
   pooling, cross-entropy) then take their exact path. A finite replay is applied (and recorded
   in ``results.replayed_steps``); a float16 overflow also lowers the GradScaler's scale;
3. a step that is still not finite is skipped, and a :class:`NonFiniteStepWarning` says which
   arrays went bad and (through the diagnostics) where.

:class:`Guard` gives a hand-written PyTorch loop the same step (see its docstring).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from ._guard import describe_bad, locate
from ._sequences import split_lengths
from ._results import NonFiniteStepWarning, SkippedStep

__all__ = ["Stepper", "Guard", "careful", "finite_check", "replay_rng"]

_INF = float("inf")


def careful() -> contextlib.AbstractContextManager:
    """``netgrad.ops.careful()`` when the ops provide it: ops that are optimistic on the
    branch-free (traced / non-CPU) path take their exact careful path inside it. On an ops
    version without it, eager CPU ops are careful already and this is a no-op."""
    from .. import ops
    fn = getattr(ops, "careful", None)
    return fn() if fn is not None else contextlib.nullcontext()


def finite_check(loss: torch.Tensor, tensors: Sequence[torch.Tensor]) -> float:
    """The loss on the host, with **one** synchronization (one ``_local_scalar_dense``), made
    non-finite when the loss or any element of ``tensors`` is: ``loss + 0·Σ max|t|`` is the
    loss exactly when everything is finite (``x + 0 == x``) and NaN otherwise (``0·inf`` and
    ``0·NaN`` are NaN). A sum of finite maxima that overflows (near 3e38 in float32) also gives
    NaN; :func:`_detail` tells that false alarm apart on the slow path."""
    norms = torch._foreach_norm(list(tensors), _INF)
    check = torch.stack(norms).sum() if len(norms) > 1 else norms[0]
    loss = loss.detach().reshape(())
    return (loss.to(check.dtype) + check * 0).item()


def _detail(tensors: Sequence[torch.Tensor]) -> list[float]:
    """Per tensor: 0.0 when finite, else NaN or the first infinity (the slow path)."""
    out = []
    for t in tensors:
        if bool(torch.isfinite(t).all()):
            out.append(0.0)
        else:
            bad = t[~torch.isfinite(t)]
            out.append(float("nan") if bool(torch.isnan(bad).any()) else float(bad[0]))
    return out


class replay_rng:
    """Capture the random state now; ``with r:`` runs a block from that state again."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.cuda = device is not None and device.type == "cuda"
        self.cpu_state = torch.get_rng_state()
        self.device = device if device is not None else torch.device("cpu")
        self.cuda_state = torch.cuda.get_rng_state(self.device) if self.cuda else None

    def __enter__(self) -> None:
        torch.set_rng_state(self.cpu_state)
        if self.cuda_state is not None:
            torch.cuda.set_rng_state(self.cuda_state, self.device)

    def __exit__(self, *exc: Any) -> None:
        return None


class Stepper:
    """The step of :func:`netgrad.train` over one :class:`~._state.TrainState`."""

    def __init__(self, st) -> None:
        o = st.options
        self.st = st
        self.module = st.module
        self.loss_ports = tuple(st.training.loss_ports)
        self.params = st.params
        self.pdata = [p.detach() for p in st.params]
        self.world = st.dist.world
        self.dist = st.dist
        self.device = st.device
        self.accumulation = o.accumulation_steps
        self.clip = o.clipping
        self.scaler = st.scaler
        self.mixed = o.precision.mixed
        self.autocast_dtype = o.precision.autocast_dtype
        self.schedule = o.schedule if o.schedule.function is not None else None
        self.record_lr = o.schedule.active
        self.meter = st.meter if st.meter is not None and st.meter.active else None
        self.random = o.replay_random
        self.nonfinite_patience = o.stopping.nonfinite_patience
        self.good = [p.detach().clone() for p in st.params]
        st.good = self.good
        self.on_device = self.device.type != "cpu"

    # ---- forward and backward -------------------------------------------------------------

    def _loss_sum(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        sums = [t.sum() if t.dim() <= 1 else t.flatten(1).mean(1).sum()
                for t in (out[p] for p in self.loss_ports)]
        total = sums[0] if len(sums) == 1 else torch.stack(sums).sum()
        return total.float() if total.dtype in (torch.float16, torch.bfloat16) else total

    def _micro(self, batch: dict[str, torch.Tensor]) -> list[tuple[int, dict[str, torch.Tensor]]]:
        if self.accumulation == 1:
            return [(next(iter(batch.values())).shape[0], batch)]
        parts = {k: torch.tensor_split(v, self.accumulation) for k, v in batch.items()}
        out = []
        for i in range(self.accumulation):
            mb = {k: v[i] for k, v in parts.items()}
            n = next(iter(mb.values())).shape[0]
            if n:
                out.append((n, mb))
        return out

    def forward_backward(self, batch, gn: int, fast: bool = True):
        """Loss sum (detached) of this process's examples, and the micro-batch outputs."""
        total = None
        outs = []
        scale = self.world / gn
        use_amp = self.mixed and fast
        for n, mb in self._micro(batch):
            if use_amp:
                # The backward runs under the forward's autocast state too (what
                # torch.amp.custom_bwd does for one Function), so that netgrad's autograd
                # Functions see the dtypes their forward saw; native ops' backward is unchanged.
                with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                    out = self.module.run_ports(*split_lengths(mb))
                    ls = self._loss_sum(out)
                    scaled = ls * scale
                    if self.scaler is not None:
                        scaled = self.scaler.scale(scaled)
                    scaled.backward()
            else:
                out = self.module.run_ports(*split_lengths(mb))
                ls = self._loss_sum(out)
                (ls * scale).backward()
            d = ls.detach()
            total = d if total is None else total + d
            if self.meter is not None:
                outs.append((n, out, mb))
        return total, outs

    def _grads(self) -> list[torch.Tensor]:
        grads = []
        for p in self.params:
            g = p.grad
            if g is None:
                g = p.grad = torch.zeros_like(p)
            grads.append(g)
        return grads

    def _clear(self) -> None:
        for p in self.params:
            p.grad = None

    # ---- the step ---------------------------------------------------------------------------

    def __call__(self, batch: dict[str, torch.Tensor], gn: int) -> None:
        st = self.st
        if self.on_device:
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        rng = replay_rng(self.device) if self.random else None
        total, outs = self.forward_backward(batch, gn)
        grads = self._grads()
        if self.world > 1:
            total = self.dist.all_reduce_gradients(grads, total)
        if self.scaler is not None:
            self.scaler.unscale_(st.optimizer)
        loss_sum = finite_check(total, grads + self.pdata)
        if not math.isfinite(loss_sum):
            again = self._slow(batch, gn, grads, rng, float(total), outs)
            if again is None:       # skipped
                return
            outs, loss_sum = again
        self._apply(loss_sum / gn, gn, outs)

    def _apply(self, mean_loss: float, gn: int, outs) -> None:
        st = self.st
        params = self.params
        if self.clip.value is not None:
            grads = [p.grad for p in params]
            torch._foreach_clamp_min_(grads, -self.clip.value)
            torch._foreach_clamp_max_(grads, self.clip.value)
        if self.clip.norm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.clip.norm, foreach=True)
        torch._foreach_copy_(self.good, self.pdata)
        if self.schedule is not None:
            f = self.schedule.factor_at(st.round + 1, st.batch + 1)
            for g in st.optimizer.param_groups:
                g["lr"] = g["initial_lr"] * f
        st.optimizer.step()
        if self.record_lr:
            st.results.learning_rates.append(st.learning_rate())
        if st.scheduler is not None:
            st.scheduler.step()
        if self.scaler is not None:
            self.scaler.update()
        self._clear()
        st.step += 1
        st.consecutive_bad = 0
        st.last_loss = mean_loss
        st.results.batch_losses.append(mean_loss)
        st.round_loss_sum += mean_loss * gn
        st.round_examples += gn
        if self.meter is not None:
            for n, out, mb in outs:
                self.meter.update(out, mb, n)

    # ---- the rare path ------------------------------------------------------------------------

    def _slow(self, batch, gn, grads, rng, loss_sum, outs):
        """Restore broken arrays, or replay the batch carefully; skip when still not finite.
        Returns ``(outs, loss_sum)`` of the pass to apply, or None when the step is skipped."""
        st = self.st
        gvals = _detail(grads)
        pvals = _detail(self.pdata)
        if all(math.isfinite(v) for v in gvals + pvals) and math.isfinite(loss_sum):
            return outs, loss_sum        # an overflowing sum of finite values: all is well
        if not all(math.isfinite(v) for v in pvals):
            self._skip(batch, loss_sum / gn, gvals, pvals)
            return None
        # Replay once on the careful path (float32 when mixed), from the same random state.
        first = loss_sum / gn
        self._clear()
        with contextlib.ExitStack() as stack:
            if rng is not None:
                cuda = [self.device] if self.device.type == "cuda" else []
                stack.enter_context(torch.random.fork_rng(devices=cuda))
                stack.enter_context(rng)
            stack.enter_context(careful())
            total, outs = self.forward_backward(batch, gn, fast=False)
        grads = self._grads()
        if self.world > 1:
            total = self.dist.all_reduce_gradients(grads, total)
        loss2 = finite_check(total, grads)
        if not math.isfinite(loss2):
            loss2 = float(total)
        if math.isfinite(loss2) and all(math.isfinite(v) for v in _detail(grads)):
            kind = "float16 overflow" if self.scaler is not None else "careful replay"
            why = (f"the float16 pass overflowed (loss scale {self.scaler.get_scale():g}, now "
                   "lowered); recomputed in float32" if self.scaler is not None else
                   "the fast path was not finite; recomputed on the careful path"
                   + (" in float32" if self.mixed else ""))
            msg = (f"round {st.round + 1}, batch {st.batch + 1}: {why} and applied "
                   f"(first pass: loss {first:.4g}, non-finite gradients of "
                   f"{', '.join(describe_bad(st.names, gvals, 'gradient has')[:4]) or 'none'})")
            st.results.replayed_steps.append(SkippedStep(st.round + 1, st.batch + 1, st.step, first,
                                                         [n.split(" (")[0] for n in describe_bad(
                                                             st.names, gvals, "gradient has")],
                                                         msg, kind))
            return outs, loss2
        self._skip(batch, loss2 / gn, _detail(grads), [0.0] * len(self.params))
        return None

    def _skip(self, batch, loss_value, gvals, pvals) -> None:
        st = self.st
        if self.scaler is not None:
            self.scaler.update()          # the scaler recorded an overflow: lower its scale
        bad = describe_bad(st.names, gvals, "gradient has")
        broken = describe_bad(st.names, pvals, "array has")
        parts = []
        if broken:
            with torch.no_grad():
                torch._foreach_copy_(self.pdata, self.good)
            st.optimizer.state.clear()
            parts.append("the arrays became non-finite in the previous step ("
                         + ", ".join(broken[:4]) + "); they were restored and the optimizer "
                                                   "state reset")
        if not math.isfinite(loss_value):
            parts.append(f"the loss is {loss_value}")
        if bad:
            parts.append("non-finite gradients of " + ", ".join(bad[:6])
                         + (f" and {len(bad) - 6} more" if len(bad) > 6 else ""))
        if not broken:
            parts.append("a replay on the careful path"
                         + (" in float32" if self.mixed else "") + " was not finite either")
            where = locate(self.module, batch)
            if where:
                parts.append(f"diagnostics: {where}")
        bad_inputs = [p for p, t in batch.items() if t.is_floating_point()
                      and not bool(torch.isfinite(t).all())]
        if bad_inputs:
            parts.append(f"the batch has non-finite values at ports {bad_inputs}")
        msg = f"round {st.round + 1}, batch {st.batch + 1}: step skipped (not applied): " + "; ".join(parts)
        st.results.skipped_steps.append(SkippedStep(st.round + 1, st.batch + 1, st.step,
                                                    loss_value, [x.split(" (")[0] for x in bad], msg))
        self._clear()
        st.consecutive_bad += 1
        for plugin in st.plugins:
            w = getattr(plugin, "write", None)
            if w is not None:
                w(f"netgrad.train: {msg}")
        warnings.warn(msg, NonFiniteStepWarning, stacklevel=6)
        if st.consecutive_bad > self.nonfinite_patience:
            st.stop(f"{st.consecutive_bad} consecutive steps were not finite "
                    f"(nonfinite_patience={self.nonfinite_patience}); the last good net is "
                    f"returned. Last: {msg}")


class Guard:
    """The trainer's divergence guard for a hand-written PyTorch loop.

    ::

        guard = netgrad.train.Guard(model.parameters())
        for x, y in loader:
            def closure():
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                return loss
            loss = guard.step(closure, optimizer)   # a float, or None when the step was skipped

    ``step`` clears the gradients, runs ``closure`` (forward and backward), reads the loss and a
    finiteness check of every gradient with **one** host synchronization, and when something is
    not finite re-runs ``closure`` once under ``netgrad.ops.careful()`` from the same random
    state (dropout draws the same masks). A finite result is applied with ``optimizer.step()``;
    otherwise the step is skipped (gradients cleared, a :class:`NonFiniteStepWarning` names
    the arrays). ``guard.skipped`` and ``guard.replayed`` count what happened.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter] | Iterable[tuple[str, torch.nn.Parameter]],
                 *, replay: bool = True) -> None:
        items = list(params)
        if items and isinstance(items[0], tuple):
            self.names = [n for n, _ in items]
            self.params = [p for _, p in items]
        else:
            self.params = items
            self.names = [f"parameter {i}" for i in range(len(items))]
        if not self.params:
            from .._errors import NetValueError
            raise NetValueError("Guard needs the parameters the loop trains", where="netgrad.train.Guard",
                                got="got none", fix="pass model.parameters() or model.named_parameters()")
        self.replay = replay
        self.skipped = 0
        self.replayed = 0

    def _grads(self) -> list[torch.Tensor]:
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def _ok(self, loss: torch.Tensor, value: float) -> tuple[bool, float]:
        if math.isfinite(value):
            return True, value
        value = float(loss.detach())
        return math.isfinite(value) and all(math.isfinite(v) for v in _detail(self._grads())), value

    def step(self, closure: Callable[[], torch.Tensor], optimizer: Any = None) -> float | None:
        for p in self.params:
            p.grad = None
        device = self.params[0].device
        rng = replay_rng(device)
        loss = closure()
        ok, value = self._ok(loss, finite_check(loss, self._grads()))
        if not ok and self.replay:
            for p in self.params:
                p.grad = None
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), \
                    rng, careful():
                loss = closure()
            ok, value = self._ok(loss, finite_check(loss, self._grads()))
            self.replayed += ok
        if not ok:
            bad = describe_bad(self.names, _detail(self._grads()), "gradient has")
            for p in self.params:
                p.grad = None
            self.skipped += 1
            warnings.warn(f"netgrad.train.Guard: step skipped (not applied): loss {value}"
                          + (f"; non-finite gradients of {', '.join(bad[:6])}" if bad else ""),
                          NonFiniteStepWarning, stacklevel=2)
            return None
        if optimizer is not None:
            optimizer.step()
        return value
