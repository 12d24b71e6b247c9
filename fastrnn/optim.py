"""First-order optimizers with the exact update rules of ``torch.optim``.

Parameters are a dict ``name -> ndarray`` (float32 or float64) that the
optimizer updates **in place**; ``step(grads)`` takes a dict with (a subset of)
the same keys.  A parameter whose gradient is missing or ``None`` is skipped,
like a PyTorch parameter whose ``.grad`` is ``None`` (its step count does not
advance).  Gradients are never modified.

Each update is one fused Numba kernel over the flattened parameter (one pass
over memory, no temporaries).  The per-element arithmetic follows the
single-tensor code paths of ``torch.optim`` operation by operation (same
``lerp``/``addcmul``/``addcdiv`` association, same bias corrections), so float64
results agree with PyTorch to rounding.  Scalars are cast to the parameter's
dtype before the kernel runs, so float32 parameters are updated in float32
arithmetic, as in PyTorch.

Algorithms (g: gradient, p: parameter, t: the parameter's step count):

* ``SGD``: ``g += wd*p``; momentum buffer ``b = g`` on the first step, then
  ``b = mu*b + (1-dampening)*g``; ``g = g + mu*b`` (nesterov) or ``b``;
  ``p -= lr*g``.
* ``Adagrad``: ``g += wd*p``; ``clr = lr / (1 + (t-1)*lr_decay)``;
  ``s += g*g``; ``p -= clr * g / (sqrt(s) + eps)``.
* ``RMSprop``: ``g += wd*p``; ``v = alpha*v + (1-alpha)*g*g``; centered:
  ``ga = lerp(ga, g, 1-alpha)``, ``avg = sqrt(v - ga*ga) + eps`` else
  ``sqrt(v) + eps``; momentum: ``b = mu*b + g/avg; p -= lr*b`` else
  ``p -= lr*g/avg``.
* ``Adam``/``AdamW``: L2 (``g += wd*p``) or decoupled (``p *= 1 - lr*wd``)
  weight decay; ``m = lerp(m, g, 1-b1)``, ``v = b2*v + (1-b2)*g*g``,
  (amsgrad: ``vmax = max(vmax, v)``);
  ``p -= lr/(1-b1**t) * m / (sqrt(v)/sqrt(1-b2**t) + eps)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

from fastrnn.kernels._jit import JIT as _JIT

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "get"]


# ----------------------------------------------------------------------------
# fused kernels (flat 1-D contiguous arrays; scalars already in p's dtype)
# ----------------------------------------------------------------------------
@njit(inline="always")
def _lerp(a, b, w, one_minus_w):
    # ATen's lerp: a + w*(b-a) for |w| < 0.5, else b - (b-a)*(1-w)
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * one_minus_w


@njit(**_JIT)
def _sgd_kernel(p, g, buf, neg_lr, momentum, one_minus_dampening, weight_decay,
                use_wd, use_momentum, nesterov, first):
    for i in range(p.size):
        gi = g[i]
        if use_wd:
            gi = gi + weight_decay * p[i]
        if use_momentum:
            if first:
                b = gi
            else:
                b = buf[i] * momentum + one_minus_dampening * gi
            buf[i] = b
            if nesterov:
                gi = gi + momentum * b
            else:
                gi = b
        p[i] = p[i] + neg_lr * gi


@njit(**_JIT)
def _axpy_kernel(p, g, neg_lr):
    """Plain SGD (no momentum, no weight decay): ``p -= lr*g``, as ``_sgd_kernel`` computes it. A
    kernel of its own because a call with 3 arguments costs a fraction of one with 11 (Numba types
    every argument on every call, which costs more than the update of a small vector; figures in
    benchmarks/README.md)."""
    for i in range(p.size):
        p[i] = p[i] + neg_lr * g[i]


@njit(**_JIT)
def _adam_plain_kernel(p, g, m, v, one_minus_beta1, beta1_lerp, beta2, one_minus_beta2,
                       neg_step_size, bc2_sqrt, eps):
    """``_adam_kernel`` without weight decay and AMSGrad (the common case), same arithmetic."""
    for i in range(p.size):
        gi = g[i]
        mi = _lerp(m[i], gi, one_minus_beta1, beta1_lerp)
        m[i] = mi
        vi = v[i] * beta2 + one_minus_beta2 * gi * gi
        v[i] = vi
        p[i] = p[i] + neg_step_size * mi / (math.sqrt(vi) / bc2_sqrt + eps)


@njit(**_JIT)
def _adagrad_kernel(p, g, ssum, neg_clr, eps, weight_decay, use_wd):
    for i in range(p.size):
        gi = g[i]
        if use_wd:
            gi = gi + weight_decay * p[i]
        s = ssum[i] + gi * gi
        ssum[i] = s
        std = math.sqrt(s) + eps
        p[i] = p[i] + neg_clr * gi / std


@njit(**_JIT)
def _rmsprop_kernel(p, g, sq, gavg, buf, neg_lr, alpha, one_minus_alpha, alpha_lerp,
                    eps, weight_decay, momentum, use_wd, centered, use_momentum):
    for i in range(p.size):
        gi = g[i]
        if use_wd:
            gi = gi + weight_decay * p[i]
        s = sq[i] * alpha + one_minus_alpha * gi * gi
        sq[i] = s
        if centered:
            ga = _lerp(gavg[i], gi, one_minus_alpha, alpha_lerp)
            gavg[i] = ga
            avg = math.sqrt(s - ga * ga)
        else:
            avg = math.sqrt(s)
        avg = avg + eps
        if use_momentum:
            b = buf[i] * momentum + gi / avg
            buf[i] = b
            p[i] = p[i] + neg_lr * b
        else:
            p[i] = p[i] + neg_lr * gi / avg


@njit(**_JIT)
def _adam_kernel(p, g, m, v, vmax, one_minus_beta1, beta1_lerp, beta2, one_minus_beta2,
                 neg_step_size, bc2_sqrt, eps, weight_decay, decay_factor,
                 use_wd, decoupled, amsgrad):
    for i in range(p.size):
        gi = g[i]
        pi = p[i]
        if use_wd:
            if decoupled:
                pi = pi * decay_factor
            else:
                gi = gi + weight_decay * pi
        mi = _lerp(m[i], gi, one_minus_beta1, beta1_lerp)
        m[i] = mi
        vi = v[i] * beta2 + one_minus_beta2 * gi * gi
        v[i] = vi
        if amsgrad:
            vm = vmax[i]
            if vi > vm or vi != vi:  # torch.maximum propagates NaN
                vm = vi
            vmax[i] = vm
            denom = math.sqrt(vm) / bc2_sqrt + eps
        else:
            denom = math.sqrt(vi) / bc2_sqrt + eps
        p[i] = pi + neg_step_size * mi / denom


# ----------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------
def _real(name, value) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _nonneg(name, value) -> float:
    v = _real(name, value)
    if not 0.0 <= v < math.inf:
        raise ValueError(f"Invalid {name}: {value!r} (must be finite and >= 0)")
    return v


def _beta(name, value) -> float:
    v = _real(name, value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"Invalid {name}: {value!r} (must be in [0, 1))")
    return v


_EMPTY = {np.dtype(np.float32): np.empty(0, np.float32),
          np.dtype(np.float64): np.empty(0, np.float64)}


# ----------------------------------------------------------------------------
# base class
# ----------------------------------------------------------------------------
class Optimizer:
    """Base class.  ``opt = Cls(params, **hyper)``; ``opt.step(grads)``.

    ``params`` is a mapping ``name -> ndarray`` of float32/float64 arrays that
    are updated in place (the optimizer keeps references to the very same
    arrays).  Hyper-parameters are plain attributes (``opt.lr = 1e-4`` takes
    effect on the next step; assignments are validated).

    Parameters
    ----------
    params : Mapping[str, np.ndarray]
        Name -> writeable float32 or float64 array, e.g. ``model.parameters()``.
    **hyper
        The subclass's hyper-parameters.

    Raises
    ------
    ValueError
        ``params`` is not a non-empty mapping of writeable float arrays, or a hyper-parameter is out
        of range (the message names it).
    """

    #: names of the hyper-parameters (saved in ``state_dict``)
    _hyper: tuple = ()
    #: names of the per-parameter state arrays
    _buffers: tuple = ()

    def __init__(self, params: Mapping[str, np.ndarray], **hyper: Any) -> None:
        if not isinstance(params, Mapping):
            raise ValueError(
                f"{type(self).__name__}: params must be a dict name -> ndarray, "
                f"got {type(params).__name__}"
            )
        if len(params) == 0:
            raise ValueError(f"{type(self).__name__}: got an empty parameter dict")
        self.params = {}
        for name, p in params.items():
            if not isinstance(p, np.ndarray):
                raise ValueError(
                    f"parameter {name!r} must be a numpy.ndarray, got {type(p).__name__}"
                )
            if p.dtype not in (np.float32, np.float64):
                raise ValueError(
                    f"parameter {name!r} must be float32 or float64, got {p.dtype}"
                )
            if not p.flags.writeable:
                raise ValueError(f"parameter {name!r} is read-only; it is updated in place")
            self.params[name] = p
        # 1-D views of the contiguous parameters, made once (None: updated through a copy)
        self._flat = {name: p.reshape(-1) if p.flags.c_contiguous else None
                      for name, p in self.params.items()}
        self._consts_cache = {}
        self._init_done = False
        self._set_hyper(**hyper)
        self._init_done = True
        self.state = {name: {"step": 0} for name in self.params}

    # -- hyper-parameters ------------------------------------------------------
    def _set_hyper(self, **hyper):  # pragma: no cover - abstract
        raise NotImplementedError

    def __setattr__(self, key, value):
        # validate hyper-parameter assignments made after construction
        if key in type(self)._hyper and getattr(self, "_init_done", False):
            self._set_hyper(**{key: value})
            self._consts_cache.clear()
            return
        object.__setattr__(self, key, value)

    def _consts(self, dtype):
        """The hyper-parameters as the kernels take them, cast to ``dtype``; cached until a
        hyper-parameter changes (casting them for every parameter of every step cost more than
        the update of a small parameter)."""
        c = self._consts_cache.get(dtype)
        if c is None:
            c = self._consts_cache[dtype] = self._make_consts(dtype.type)
        return c

    def _make_consts(self, t):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def hyperparams(self) -> dict[str, Any]:
        """The hyper-parameters by name (``lr``, ...), as :meth:`state_dict` saves them."""
        return {k: getattr(self, k) for k in self._hyper}

    def __repr__(self):
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams.items())
        return f"{type(self).__name__}({len(self.params)} params, {hp})"

    # -- stepping ----------------------------------------------------------------
    def step(self, grads: Mapping[str, np.ndarray | None]) -> None:
        """Apply one update to the parameters, in place.

        Everything is checked before the first parameter changes.

        Parameters
        ----------
        grads : Mapping[str, array_like or None]
            Name -> gradient of that parameter's shape (cast to its dtype; not modified), for a
            subset of the parameters' names; a missing or None gradient skips that parameter (its
            step count does not advance).

        Raises
        ------
        ValueError
            ``grads`` is not a mapping, has a name that is not a parameter, or a gradient of the
            wrong shape.
        """
        if not isinstance(grads, Mapping):
            raise ValueError(
                f"grads must be a dict name -> ndarray, got {type(grads).__name__}"
            )
        params = self.params
        work = []  # everything is checked before the first update
        for name, g in grads.items():
            p = params.get(name)
            if p is None:
                unknown = [k for k in grads if k not in params]
                raise ValueError(
                    f"grads has keys that are not optimizer parameters: {unknown!r} "
                    f"(known: {list(params)!r})"
                )
            if g is None:
                continue
            if not (type(g) is np.ndarray and g.dtype == p.dtype and g.flags.c_contiguous):
                g = np.asarray(g)
                if g.shape == p.shape:
                    g = np.ascontiguousarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(
                    f"gradient {name!r} has the wrong shape: expected {p.shape}, got {g.shape}"
                )
            work.append((name, p, g.reshape(-1)))
        for name, p, g in work:
            st = self.state[name]
            st["step"] += 1
            flat = self._flat[name]
            if flat is not None:
                self._update(flat, g, st)
            else:  # non-contiguous parameter: update a copy, write it back
                flat = np.ascontiguousarray(p).reshape(-1)
                self._update(flat, g, st)
                p[...] = flat.reshape(p.shape)

    def _buffer(self, st, key, p, fill=0.0):
        buf = st.get(key)
        if buf is None:
            buf = np.full(p.size, fill, dtype=p.dtype)
            st[key] = buf
        return buf

    def _update(self, p, g, st):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- checkpointing -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the hyper-parameters and per-parameter state, for checkpoints.

        Returns
        -------
        dict
            ``optimizer`` (the class name), ``hyperparams`` (:attr:`hyperparams`) and ``state``:
            parameter name -> ``{"step": int, buffer name -> np.ndarray}``, the buffers reshaped to
            their parameter's shape.
        """
        state = {}
        for name, st in self.state.items():
            shape = self.params[name].shape
            state[name] = {
                k: (v.reshape(shape).copy() if isinstance(v, np.ndarray) else v)
                for k, v in st.items()
            }
        return {
            "optimizer": type(self).__name__,
            "hyperparams": dict(self.hyperparams),
            "state": state,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict`.

        Parameters
        ----------
        state_dict : Mapping[str, Any]
            What :meth:`state_dict` returned, from an optimizer of the same class over parameters of
            the same names and shapes.

        Raises
        ------
        ValueError
            The entries are missing, it is for another optimizer class, or it has state for unknown
            parameters, of the wrong shape, or unknown buffers; or a hyper-parameter is invalid.
        """
        try:
            kind = state_dict["optimizer"]
            hyper = state_dict["hyperparams"]
            state = state_dict["state"]
        except (TypeError, KeyError):
            raise ValueError(
                "state_dict must have 'optimizer', 'hyperparams' and 'state' entries"
            ) from None
        if kind != type(self).__name__:
            raise ValueError(
                f"state_dict is for {kind}, cannot load it into {type(self).__name__}"
            )
        unknown = [k for k in state if k not in self.params]
        if unknown:
            raise ValueError(f"state_dict has state for unknown parameters: {unknown!r}")
        new_state = {name: {"step": 0} for name in self.params}
        for name, st in state.items():
            p = self.params[name]
            for key, val in st.items():
                if key == "step":
                    new_state[name]["step"] = int(val)
                elif key in self._buffers:
                    arr = np.asarray(val)
                    if arr.shape != p.shape:
                        raise ValueError(
                            f"state {name!r}/{key!r}: expected shape {p.shape}, got {arr.shape}"
                        )
                    new_state[name][key] = np.array(arr, dtype=p.dtype).reshape(-1)
                else:
                    raise ValueError(f"state {name!r} has an unknown entry {key!r}")
        self._set_hyper(**hyper)
        self._consts_cache.clear()
        self.state = new_state


# ----------------------------------------------------------------------------
# optimizers
# ----------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2
    weight decay -- ``torch.optim.SGD``.

    Parameters
    ----------
    params : Mapping[str, np.ndarray]
        The arrays to update in place (``model.parameters()``).
    lr : float, default 1e-3
        Learning rate, >= 0.
    momentum : float, default 0.0
        Momentum factor ``mu``, >= 0 (0: plain SGD).
    dampening : float, default 0.0
        Dampening of the momentum's gradient term.
    weight_decay : float, default 0.0
        L2 penalty, >= 0 (added to the gradient).
    nesterov : bool, default False
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).

    Raises
    ------
    ValueError
        A hyper-parameter out of range, or ``params`` as :class:`Optimizer` refuses it.
    """

    _hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    _buffers = ("momentum_buffer",)

    def __init__(self, params: Mapping[str, np.ndarray], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def _set_hyper(self, **kw):
        hp = {k: getattr(self, k) for k in self._hyper if k in self.__dict__}
        hp.update(kw)
        lr = _nonneg("learning rate", hp["lr"])
        momentum = _nonneg("momentum", hp["momentum"])
        dampening = _real("dampening", hp["dampening"])
        weight_decay = _nonneg("weight_decay", hp["weight_decay"])
        nesterov = bool(hp["nesterov"])
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening")
        for k, v in dict(lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov).items():
            object.__setattr__(self, k, v)

    def _make_consts(self, t):
        return t(-self.lr), t(self.momentum), t(1.0 - self.dampening), t(self.weight_decay)

    def _update(self, p, g, st):
        neg_lr, momentum, one_minus_dampening, weight_decay = self._consts(p.dtype)
        use_momentum, use_wd = self.momentum != 0.0, self.weight_decay != 0.0
        if not (use_momentum or use_wd):
            _axpy_kernel(p, g, neg_lr)
            return
        if use_momentum:
            first = "momentum_buffer" not in st
            buf = self._buffer(st, "momentum_buffer", p)
        else:
            first, buf = False, _EMPTY[p.dtype]
        _sgd_kernel(p, g, buf, neg_lr, momentum, one_minus_dampening, weight_decay, use_wd,
                    use_momentum, self.nesterov, first)


class Adagrad(Optimizer):
    """Adagrad -- ``torch.optim.Adagrad``.

    Parameters
    ----------
    params : Mapping[str, np.ndarray]
        The arrays to update in place (``model.parameters()``).
    lr : float, default 1e-2
        Learning rate, >= 0.
    lr_decay : float, default 0.0
        The step size is ``lr / (1 + (t-1) * lr_decay)``.
    weight_decay : float, default 0.0
        L2 penalty, >= 0.
    initial_accumulator_value : float, default 0.0
        Initial value of the sum of squared gradients.
    eps : float, default 1e-10
        Added to the denominator.

    Raises
    ------
    ValueError
        A hyper-parameter negative or not finite, or ``params`` as :class:`Optimizer` refuses it.
    """

    _hyper = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    _buffers = ("sum",)

    def __init__(self, params: Mapping[str, np.ndarray], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps)

    def _set_hyper(self, **kw):
        hp = {k: getattr(self, k) for k in self._hyper if k in self.__dict__}
        hp.update(kw)
        vals = dict(
            lr=_nonneg("learning rate", hp["lr"]),
            lr_decay=_nonneg("lr_decay", hp["lr_decay"]),
            weight_decay=_nonneg("weight_decay", hp["weight_decay"]),
            initial_accumulator_value=_nonneg(
                "initial_accumulator_value", hp["initial_accumulator_value"]),
            eps=_nonneg("eps", hp["eps"]),
        )
        for k, v in vals.items():
            object.__setattr__(self, k, v)

    def _update(self, p, g, st):
        t = p.dtype.type
        ssum = self._buffer(st, "sum", p, self.initial_accumulator_value)
        clr = self.lr / (1 + (st["step"] - 1) * self.lr_decay)
        _adagrad_kernel(p, g, ssum, t(-clr), t(self.eps), t(self.weight_decay),
                        self.weight_decay != 0.0)


class RMSprop(Optimizer):
    """RMSprop (optionally centered, with momentum) -- ``torch.optim.RMSprop``.

    Parameters
    ----------
    params : Mapping[str, np.ndarray]
        The arrays to update in place (``model.parameters()``).
    lr : float, default 1e-2
        Learning rate, >= 0.
    alpha : float, default 0.99
        Smoothing constant of the mean of squared gradients.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0.0
        L2 penalty, >= 0.
    momentum : float, default 0.0
        Momentum factor, >= 0.
    centered : bool, default False
        Normalise by the variance estimate (the mean of squares minus the squared mean gradient).

    Raises
    ------
    ValueError
        A hyper-parameter negative or not finite, or ``params`` as :class:`Optimizer` refuses it.
    """

    _hyper = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")
    _buffers = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params: Mapping[str, np.ndarray], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered)

    def _set_hyper(self, **kw):
        hp = {k: getattr(self, k) for k in self._hyper if k in self.__dict__}
        hp.update(kw)
        alpha = _nonneg("alpha", hp["alpha"])
        vals = dict(
            lr=_nonneg("learning rate", hp["lr"]),
            alpha=alpha,
            eps=_nonneg("eps", hp["eps"]),
            weight_decay=_nonneg("weight_decay", hp["weight_decay"]),
            momentum=_nonneg("momentum", hp["momentum"]),
            centered=bool(hp["centered"]),
        )
        for k, v in vals.items():
            object.__setattr__(self, k, v)

    def _update(self, p, g, st):
        t = p.dtype.type
        empty = _EMPTY[p.dtype]
        sq = self._buffer(st, "square_avg", p)
        gavg = self._buffer(st, "grad_avg", p) if self.centered else empty
        use_momentum = self.momentum > 0.0
        buf = self._buffer(st, "momentum_buffer", p) if use_momentum else empty
        _rmsprop_kernel(p, g, sq, gavg, buf, t(-self.lr), t(self.alpha),
                        t(1.0 - self.alpha), t(1.0 - (1.0 - self.alpha)), t(self.eps), t(self.weight_decay),
                        t(self.momentum), self.weight_decay != 0.0, self.centered,
                        use_momentum)


class Adam(Optimizer):
    """Adam / AMSGrad, with L2 or decoupled (AdamW) weight decay --
    ``torch.optim.Adam`` (``decoupled_weight_decay=True`` is ``torch.optim.AdamW``).

    Parameters
    ----------
    params : Mapping[str, np.ndarray]
        The arrays to update in place (``model.parameters()``).
    lr : float, default 1e-3
        Learning rate, >= 0.
    betas : tuple of float, default (0.9, 0.999)
        ``(beta1, beta2)``, each in [0, 1): decay rates of the first and second moment estimates.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0.0
        Weight decay, >= 0: L2 (added to the gradient), or decoupled.
    amsgrad : bool, default False
        Use the maximum of the second moment estimates so far (AMSGrad).
    decoupled_weight_decay : bool, default False
        ``p *= 1 - lr * weight_decay`` before the update instead of the L2 term (AdamW).

    Raises
    ------
    ValueError
        A hyper-parameter out of range, or ``params`` as :class:`Optimizer` refuses it.
    """

    _hyper = ("lr", "betas", "eps", "weight_decay", "amsgrad", "decoupled_weight_decay")
    _buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Mapping[str, np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, decoupled_weight_decay=decoupled_weight_decay)

    def _set_hyper(self, **kw):
        hp = {k: getattr(self, k) for k in self._hyper if k in self.__dict__}
        hp.update(kw)
        betas = hp["betas"]
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        vals = dict(
            lr=_nonneg("learning rate", hp["lr"]),
            betas=(_beta("beta parameter at index 0", b1),
                   _beta("beta parameter at index 1", b2)),
            eps=_nonneg("eps", hp["eps"]),
            weight_decay=_nonneg("weight_decay", hp["weight_decay"]),
            amsgrad=bool(hp["amsgrad"]),
            decoupled_weight_decay=bool(hp["decoupled_weight_decay"]),
        )
        for k, v in vals.items():
            object.__setattr__(self, k, v)

    def _make_consts(self, t):
        beta1, beta2 = self.betas
        return (t(1 - beta1), t(1 - (1 - beta1)), t(beta2), t(1 - beta2), t(self.eps),
                t(self.weight_decay), t(1 - self.lr * self.weight_decay))

    def _update(self, p, g, st):
        t = p.dtype.type
        step = st["step"]
        beta1, beta2 = self.betas
        one_minus_beta1, beta1_lerp, beta2_t, one_minus_beta2, eps, weight_decay, decay_factor = \
            self._consts(p.dtype)
        m = self._buffer(st, "exp_avg", p)
        v = self._buffer(st, "exp_avg_sq", p)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = self.lr / bias_correction1
        bc2_sqrt = bias_correction2 ** 0.5
        if not (self.weight_decay != 0.0 or self.amsgrad):
            _adam_plain_kernel(p, g, m, v, one_minus_beta1, beta1_lerp, beta2_t, one_minus_beta2,
                               t(-step_size), t(bc2_sqrt), eps)
            return
        vmax = self._buffer(st, "max_exp_avg_sq", p) if self.amsgrad else _EMPTY[p.dtype]
        _adam_kernel(p, g, m, v, vmax, one_minus_beta1, beta1_lerp, beta2_t, one_minus_beta2,
                     t(-step_size), t(bc2_sqrt), eps, weight_decay, decay_factor,
                     self.weight_decay != 0.0, self.decoupled_weight_decay, self.amsgrad)


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=1e-2``) --
    ``torch.optim.AdamW``.

    Parameters
    ----------
    params : Mapping[str, np.ndarray]
        The arrays to update in place (``model.parameters()``).
    lr : float, default 1e-3
        Learning rate, >= 0.
    betas : tuple of float, default (0.9, 0.999)
        ``(beta1, beta2)``, each in [0, 1): decay rates of the first and second moment estimates.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 1e-2
        Decoupled weight decay, >= 0: ``p *= 1 - lr * weight_decay`` every step.
    amsgrad : bool, default False
        Use the maximum of the second moment estimates so far (AMSGrad).

    Raises
    ------
    ValueError
        A hyper-parameter out of range (``decoupled_weight_decay`` cannot be set to False), or
        ``params`` as :class:`Optimizer` refuses it.
    """

    def __init__(self, params: Mapping[str, np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, decoupled_weight_decay=True)

    def _set_hyper(self, **kw):
        if kw.get("decoupled_weight_decay") is False:
            raise ValueError("AdamW always uses decoupled weight decay; use Adam instead")
        super()._set_hyper(**kw)


_REGISTRY = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}


def get(name_or_obj: str | type[Optimizer] | Optimizer, params: Mapping[str, np.ndarray] | None = None,
        **kw: Any) -> Optimizer:
    """Resolve an optimizer.

    * a name ("sgd", "adam", "adamw", "rmsprop", "adagrad"; case-insensitive)
      or an ``Optimizer`` subclass -> ``cls(params, **kw)``;
    * an ``Optimizer`` instance -> returned unchanged (no ``kw`` allowed).

    Parameters
    ----------
    name_or_obj : str, Optimizer subclass or Optimizer
        What to resolve.
    params : Mapping[str, np.ndarray] or None
        The parameters to optimize (required with a name or a class).
    **kw
        Hyper-parameters (``lr``, ...), with a name or a class.

    Returns
    -------
    Optimizer
        A new optimizer, or ``name_or_obj`` itself.

    Raises
    ------
    ValueError
        An unknown name, options with an instance, no ``params`` for a new optimizer, or an
        argument of another type.
    """
    if isinstance(name_or_obj, Optimizer):
        if kw:
            raise ValueError(
                "optim.get: keyword options cannot be applied to an existing optimizer"
            )
        return name_or_obj
    if isinstance(name_or_obj, str):
        key = name_or_obj.strip().lower()
        try:
            cls = _REGISTRY[key]
        except KeyError:
            raise ValueError(
                f"unknown optimizer {name_or_obj!r}; expected one of {sorted(_REGISTRY)}"
            ) from None
    elif isinstance(name_or_obj, type) and issubclass(name_or_obj, Optimizer):
        cls = name_or_obj
    else:
        raise ValueError(
            f"optim.get: expected an optimizer name, class or instance, got {name_or_obj!r}"
        )
    if params is None:
        raise ValueError(f"optim.get({name_or_obj!r}): params are required")
    return cls(params, **kw)
