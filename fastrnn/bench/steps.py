"""The steps a case times, one per backend: fastrnn through its model API, PyTorch, and the same
step written by hand on :mod:`fastrnn.functional` as an independent check of the model path.

One *train step* is the many-to-one regression step

    forward over the sequence -> linear head on h_T -> MSE loss -> BPTT -> update

and *inference* is the forward pass plus the head. The sides of a *many* case (M independent
models, :func:`fastrnn.bench.cases.many_case`) are train-only steps built by :func:`many_steps`: the
fastrnn stack (:class:`StackStep`), a loop over fastrnn trainers (:class:`LoopStep`), a loop over
PyTorch modules (:class:`TorchLoopStep`), ``torch.func.vmap`` over stacked modules
(:class:`TorchVmapStep`) and JAX ``vmap`` of a jitted step (:class:`JaxVmapStep`); each returns the
M losses. :func:`check_stack_matches_loop` is the stack's contract, checked before it is timed.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from fastrnn import cells as _cells
from fastrnn.bench.cases import FUNCTIONAL_CELL, GATES, LR, OUTPUT_SIZE

#: fastrnn.optim's optimizer name -> the torch.optim class of the same update.
TORCH_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}


class Step:
    """One benchmark case on one backend: ``train()`` runs a train step, ``infer()`` a forward pass.

    Both return the loss / predictions so that nothing is optimised away.
    """

    name = "?"

    def train(self):
        """One train step; returns the loss."""
        raise NotImplementedError

    def infer(self):
        """One forward pass and head; returns the predictions."""
        raise NotImplementedError


def case_data(size: tuple[int, int, int, int], dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The inputs ``x`` (time-major, ``(T, B, I)``) and targets ``y`` (``(B, OUTPUT_SIZE)``) of a case,
    standard normal from ``seed``."""
    B, T, I, H = size
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)  # time-major
    y = rng.standard_normal((B, OUTPUT_SIZE)).astype(dtype)
    return x, y


def init_params(cell: str, I: int, H: int, dtype: str, seed: int = 0) -> tuple[dict, dict]:
    """One layer's weights and the head's, with PyTorch's default initialisation.

    Every weight and bias is uniform(-1/sqrt(H), 1/sqrt(H)).

    Returns
    -------
    params : dict
        ``w_ih (G H, I)``, ``w_hh (G H, H)``, ``b_ih``, ``b_hh`` (:mod:`fastrnn.functional`'s names).
    head : dict
        ``w (OUTPUT_SIZE, H)``, ``b (OUTPUT_SIZE,)``.
    """
    G = GATES[cell]
    k = 1.0 / math.sqrt(H)
    rng = np.random.default_rng(seed + 1)
    shapes = {"w_ih": (G * H, I), "w_hh": (G * H, H), "b_ih": (G * H,), "b_hh": (G * H,)}
    params = {n: rng.uniform(-k, k, s).astype(dtype) for n, s in shapes.items()}
    head = {"w": rng.uniform(-k, k, (OUTPUT_SIZE, H)).astype(dtype), "b": rng.uniform(-k, k, OUTPUT_SIZE).astype(dtype)}
    return params, head


class FunctionalStep(Step):
    """The grid's train step written by hand on :mod:`fastrnn.functional`: forward, head, MSE, BPTT,
    SGD at :data:`~fastrnn.bench.cases.LR` (one layer, no clipping).

    An independent check of :class:`ModelStep` (the tests compare the two) and, with
    ``FASTRNN_BENCH_STEP=functional``, the step the grid times (see :func:`fastrnn_step`).

    Parameters
    ----------
    backend : "numba" or "numpy".
    cell : one of :data:`~fastrnn.bench.cases.CELLS`.
    size : (B, T, I, H).
    dtype : "float32" or "float64".
    seed : seed of the data and the weights.
    """

    def __init__(self, backend: str, cell: str, size: tuple[int, int, int, int], dtype: str, seed: int = 0):
        from fastrnn import functional as F

        self.F = F
        self.name = backend
        self.backend = backend
        self.cell = FUNCTIONAL_CELL[cell]
        self.lstm = _cells.get(self.cell).has_c
        B, T, I, H = size
        self.x, self.y = case_data(size, dtype, seed)
        self.params, self.head = init_params(cell, I, H, dtype, seed)
        self.lr = np.dtype(dtype).type(LR)

    def infer(self):
        _, state, _ = self.F.forward(self.cell, self.x, self.params, None, backend=self.backend)
        h = state[0] if self.lstm else state
        return h @ self.head["w"].T + self.head["b"]

    def train(self):
        F, p, head, lr = self.F, self.params, self.head, self.lr
        _, state, cache = F.forward(self.cell, self.x, p, None, backend=self.backend)
        h = state[0] if self.lstm else state
        diff = h @ head["w"].T + head["b"] - self.y
        loss = np.mean(diff * diff)
        d_pred = diff * (2.0 / diff.size)  # dL/dpred of the mean squared error
        d_h = d_pred @ head["w"]
        grads = F.backward(self.cell, cache, None, (d_h, None) if self.lstm else d_h)
        head["w"] -= lr * (d_pred.T @ h)
        head["b"] -= lr * d_pred.sum(axis=0)
        for k in ("w_ih", "w_hh", "b_ih", "b_hh"):
            p[k] -= lr * grads[k]
        return loss


class ModelStep(Step):
    """The train step through the model API: ``fr.Trainer(fr.LSTM(...)).train_step(x, y)``.

    Parameters
    ----------
    backend : "numba" or "numpy".
    cell : one of :data:`~fastrnn.bench.cases.CELLS`.
    size : (B, T, I, H).
    dtype : "float32" or "float64".
    seed : seed of the data and the weights.
    optimizer : a :func:`fastrnn.optim.get` name.
    lr : its learning rate.
    clip_norm : the global norm the gradients are clipped to, or None.
    num_layers : stacked layers.
    """

    def __init__(self, backend: str, cell: str, size: tuple[int, int, int, int], dtype: str, seed: int = 0,
                 optimizer: str = "sgd", lr: float = LR, clip_norm: float | None = None, num_layers: int = 1):
        import fastrnn as fr
        from fastrnn.models import model_class

        self.name = backend
        B, T, I, H = size
        cls = model_class(cell)
        self.model = cls(I, H, output_size=OUTPUT_SIZE, num_layers=num_layers, dtype=np.dtype(dtype).name,
                         backend=backend, seed=seed)
        opt = fr.optim.get(optimizer, self.model.parameters(), lr=lr)
        self.trainer = fr.Trainer(self.model, loss="mse", optimizer=opt, clip_norm=clip_norm)
        x, self.y = case_data(size, dtype, seed)
        self.x = np.ascontiguousarray(x.transpose(1, 0, 2))  # the model API is batch-first

    def train(self):
        return self.trainer.train_step(self.x, self.y)

    def infer(self):
        return self.model.predict(self.x)


def fastrnn_step(backend: str, cell: str, size: tuple[int, int, int, int], dtype: str, seed: int = 0,
                 optimizer: str = "sgd", lr: float = LR, clip_norm: float | None = None,
                 num_layers: int = 1) -> Step:
    """The fastrnn side of a benchmark case: a :class:`ModelStep` (arguments as there).

    With the environment variable ``FASTRNN_BENCH_STEP=functional``, the hand-written
    :class:`FunctionalStep` instead. That step only does the grid's training (one layer, SGD at
    lr 1e-3, no clipping): any other ``optimizer``, ``lr``, ``clip_norm`` or ``num_layers`` then
    raises RuntimeError rather than timing a different step.
    """
    if os.environ.get("FASTRNN_BENCH_STEP", "") != "functional":
        return ModelStep(backend, cell, size, dtype, seed, optimizer, lr, clip_norm, num_layers)
    if not (optimizer == "sgd" and lr == LR and clip_norm is None and num_layers == 1):
        raise RuntimeError(
            f"a {num_layers}-layer {cell} step with {optimizer} (lr {lr:g}), clip_norm {clip_norm} needs "
            f"fastrnn's model API, but FASTRNN_BENCH_STEP=functional is set; the hand-written step only "
            f"does one layer with SGD at lr {LR:g} and no clipping: unset FASTRNN_BENCH_STEP to time this case"
        )
    return FunctionalStep(backend, cell, size, dtype, seed)


class TorchStep(Step):
    """nn.RNN/LSTM/GRU + nn.Linear on the last layer's h_T + MSELoss + a torch.optim optimizer.

    The optimizer is :data:`TORCH_OPTIMIZERS` ``[optimizer]`` at ``lr``, after ``clip_grad_norm_``
    unless ``clip_norm`` is None; time-major input. Arguments as :class:`ModelStep` (``backend`` is
    ignored: always "torch").
    """

    def __init__(self, backend: str, cell: str, size: tuple[int, int, int, int], dtype: str, seed: int = 0,
                 optimizer: str = "sgd", lr: float = LR, clip_norm: float | None = None, num_layers: int = 1):
        import torch

        self.torch = torch
        self.name = "torch"
        B, T, I, H = size
        tdtype = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type]
        torch.manual_seed(seed)
        rnn_cls = getattr(torch.nn, _cells.get(_cells.cell_for(cell)).torch[0])
        self.rnn = rnn_cls(I, H, num_layers=num_layers, dtype=tdtype)
        self.head = torch.nn.Linear(H, OUTPUT_SIZE, dtype=tdtype)
        self.lstm = _cells.get(_cells.cell_for(cell)).has_c
        x, y = case_data(size, dtype, seed)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.loss = torch.nn.MSELoss()
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.opt = getattr(torch.optim, TORCH_OPTIMIZERS[optimizer])(self.params, lr=lr)
        self.clip_norm = clip_norm

    def _forward(self):
        _, state = self.rnn(self.x)
        h = state[0] if self.lstm else state
        return self.head(h[-1])  # the last layer's final hidden state

    def train(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self._forward(), self.y)
        loss.backward()
        if self.clip_norm is not None:
            self.torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        self.opt.step()
        return loss

    def infer(self):
        with self.torch.no_grad():
            return self._forward()


#: backend -> factory(backend, cell, size, dtype, seed=0, optimizer="sgd", lr=LR, clip_norm=None,
#: num_layers=1) -> Step. Replace an entry to plug in another implementation of the step. Grid cases
#: call it with (backend, cell, size, dtype) only; dataset cases add the four training settings.
STEP_FACTORIES = {"numpy": fastrnn_step, "numba": fastrnn_step, "torch": TorchStep}


# --- many independent models: one train step of each ---------------------------------------------

#: Learning rate of the Adam update of every side of a many case.
MANY_LR = 1e-3


def stack_function() -> Callable | None:
    """``fastrnn.stack`` if this version of fastrnn has it (a callable), else None.

    Returns
    -------
    callable or None
        ``fastrnn.stack``, or None.
    """
    import fastrnn as fr

    fn = getattr(fr, "stack", None)
    return fn if callable(fn) else None


class LoopStep(Step):
    """A Python loop over M fastrnn trainers: ``trainer.train_step`` of each model on its own data.

    Model m is :class:`ModelStep` with seed m (Numba path, Adam at :data:`MANY_LR`, no clipping).

    Parameters
    ----------
    cell : one of :data:`~fastrnn.bench.cases.CELLS`.
    size : (B, T, I, H) of each model.
    dtype : "float32" or "float64".
    num_models : M.
    """

    name = "loop"

    def __init__(self, cell: str, size: tuple[int, int, int, int], dtype: str, num_models: int):
        self.steps = [ModelStep("numba", cell, size, dtype, seed=m, optimizer="adam", lr=MANY_LR)
                      for m in range(num_models)]

    def train(self) -> np.ndarray:
        return np.array([s.train() for s in self.steps])


class StackStep(Step):
    """The M models of :class:`LoopStep` as one stack: ``fr.Trainer(fr.stack(models)).train_step(X, y)``.

    ``X`` is ``(M, B, T, I)`` and ``y`` ``(M, B, 1)``: model m's own data, as in the loop.

    Parameters
    ----------
    cell, size, dtype, num_models : as :class:`LoopStep`.
    threads : the stack's threads: around each call, ``FASTRNN_THREADS`` is this and BLAS has one
        thread, as in a run of a stack (:func:`fastrnn.threads.run_stack_threads`), then both are
        restored; None: as the thread policy decides.

    Raises
    ------
    RuntimeError
        If this version of fastrnn has no ``fastrnn.stack``.
    """

    name = "stack"

    def __init__(self, cell: str, size: tuple[int, int, int, int], dtype: str, num_models: int,
                 threads: int | None = None):
        import fastrnn as fr

        stack = stack_function()
        if stack is None:
            raise RuntimeError("this version of fastrnn has no fastrnn.stack (model stacks, issue 12)")
        loop = LoopStep(cell, size, dtype, num_models)
        self.stack = stack([s.model for s in loop.steps])
        self.trainer = fr.Trainer(self.stack, loss="mse",
                                  optimizer=lambda params: fr.optim.get("adam", params, lr=MANY_LR))
        self.x = np.stack([s.x for s in loop.steps])
        self.y = np.stack([s.y for s in loop.steps])
        self.threads = threads

    def train(self) -> np.ndarray:
        if self.threads is None:
            return self.trainer.train_step(self.x, self.y)
        from fastrnn.kernels._threads import blas_threads, restore_blas_threads, set_blas_threads
        from fastrnn.threads import ENV_VAR

        # As a run of a stack has them (fastrnn.threads.run_stack_threads): BLAS on one thread and
        # the models on `threads` of Numba's (FASTRNN_THREADS), not the counts the bench pins for
        # the other sides.
        saved_env, saved_blas = os.environ.get(ENV_VAR), blas_threads()
        os.environ[ENV_VAR] = str(self.threads)
        set_blas_threads(1)
        try:
            return self.trainer.train_step(self.x, self.y)
        finally:
            restore_blas_threads(saved_blas)
            if saved_env is None:
                del os.environ[ENV_VAR]
            else:
                os.environ[ENV_VAR] = saved_env


class StackMismatchError(RuntimeError):
    """The stack did not train bitwise like the loop of its models (:func:`check_stack_matches_loop`)."""


def check_stack_matches_loop(cell: str, size: tuple[int, int, int, int], dtype: str, num_models: int,
                             steps: int = 2) -> None:
    """The stack's contract: model m of a stack trains bitwise like model m alone.

    Runs ``steps`` train steps of a new :class:`StackStep` and of a new :class:`LoopStep` (the
    second step's loss also checks the first update) and compares the losses bit for bit.

    Parameters
    ----------
    cell, size, dtype, num_models : as :class:`LoopStep`.
    steps : train steps compared.

    Raises
    ------
    StackMismatchError
        If a loss differs, naming the first model and step that differ.
    """
    stack = StackStep(cell, size, dtype, num_models)
    loop = LoopStep(cell, size, dtype, num_models)
    for k in range(steps):
        a = np.asarray(stack.train(), dtype=dtype)
        b = np.asarray(loop.train(), dtype=dtype)
        if a.shape != b.shape or not np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")):
            m = int(np.flatnonzero(a != b)[0]) if a.shape == b.shape else 0
            raise StackMismatchError(
                f"the stack of {num_models} {cell} models ({dtype}) does not train like the loop of them: "
                f"step {k + 1}, model {m}: loss {a.ravel()[m]!r} (stack) against {b.ravel()[m]!r} (loop); "
                f"the stack's results are not reported: fix fastrnn.stack first"
            )


class TorchLoopStep(Step):
    """A Python loop over M PyTorch models (:class:`TorchStep` with seed m, Adam at :data:`MANY_LR`).

    Parameters
    ----------
    cell, size, dtype, num_models : as :class:`LoopStep`.
    """

    name = "torch_loop"

    def __init__(self, cell: str, size: tuple[int, int, int, int], dtype: str, num_models: int):
        self.steps = [TorchStep("torch", cell, size, dtype, seed=m, optimizer="adam", lr=MANY_LR)
                      for m in range(num_models)]

    def train(self):
        return [s.train() for s in self.steps]


_TORCH_NET = None


def _torch_net(cell: str, I: int, H: int, dtype: str, seed: int):
    """nn.RNN/LSTM/GRU + nn.Linear on the last h_T as one module (built like :class:`TorchStep`'s);
    one class for all (``stack_module_state`` needs that)."""
    global _TORCH_NET
    import torch

    if _TORCH_NET is None:
        class _Net(torch.nn.Module):
            def __init__(self, cell, I, H, dtype, seed):
                super().__init__()
                tdtype = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type]
                torch.manual_seed(seed)
                self.rnn = getattr(torch.nn, _cells.get(_cells.cell_for(cell)).torch[0])(I, H, dtype=tdtype)
                self.head = torch.nn.Linear(H, OUTPUT_SIZE, dtype=tdtype)
                self.lstm = _cells.get(_cells.cell_for(cell)).has_c

            def forward(self, x):
                _, state = self.rnn(x)
                return self.head((state[0] if self.lstm else state)[-1])

        _TORCH_NET = _Net
    return _TORCH_NET(cell, I, H, dtype, seed)


class TorchVmapStep(Step):
    """``torch.func``: the M models' parameters stacked (``stack_module_state``), one
    ``vmap(grad_and_value(loss))`` over ``functional_call`` of them, then ``torch.optim.Adam`` on the
    stacked parameters (Adam is element-wise, so this is M independent Adam updates). The models
    and data are :class:`TorchLoopStep`'s.

    Parameters
    ----------
    cell, size, dtype, num_models : as :class:`LoopStep`.
    """

    name = "torch_vmap"

    def __init__(self, cell: str, size: tuple[int, int, int, int], dtype: str, num_models: int):
        import torch
        from torch.func import functional_call, grad_and_value, stack_module_state, vmap

        B, T, I, H = size
        nets = [_torch_net(cell, I, H, dtype, seed=m) for m in range(num_models)]
        self.params, self.buffers = stack_module_state(nets)
        base = copy.deepcopy(nets[0]).to("meta")
        data = [case_data(size, dtype, seed=m) for m in range(num_models)]
        self.x = torch.from_numpy(np.stack([d[0] for d in data]))  # (M, T, B, I), time-major
        self.y = torch.from_numpy(np.stack([d[1] for d in data]))

        def loss(params, buffers, x, y):
            return torch.nn.functional.mse_loss(functional_call(base, (params, buffers), (x,)), y)

        self._grads = vmap(grad_and_value(loss))
        self.opt = torch.optim.Adam(list(self.params.values()), lr=MANY_LR)

    def train(self):
        with warnings.catch_warnings():  # "there is a performance drop because ... batching rule": yes
            warnings.simplefilter("ignore", UserWarning)
            grads, losses = self._grads(self.params, self.buffers, self.x, self.y)
        for k, p in self.params.items():
            p.grad = grads[k]
        self.opt.step()
        return losses


def _jax_cell(cell: str):
    """The recurrence ``(params, state, x_t) -> state`` of ``cell`` in jax.numpy (PyTorch's
    equations and gate order) and the initial state of batch B and hidden size H."""
    import jax
    import jax.numpy as jnp

    kind = _cells.cell_for(cell)

    def affine(p, x, h):
        return x @ p["w_ih"].T + p["b_ih"], h @ p["w_hh"].T + p["b_hh"]

    if kind == "lstm":
        def step(p, state, x):
            h, c = state
            gx, gh = affine(p, x, h)
            i, f, g, o = jnp.split(gx + gh, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            return jnp.tanh(c) * jax.nn.sigmoid(o), c
        return step, lambda z: (z, z), lambda state: state[0]
    if kind == "gru":
        def step(p, h, x):
            gx, gh = affine(p, x, h)
            rx, zx, nx = jnp.split(gx, 3, axis=-1)
            rh, zh, nh = jnp.split(gh, 3, axis=-1)
            r, z = jax.nn.sigmoid(rx + rh), jax.nn.sigmoid(zx + zh)
            n = jnp.tanh(nx + r * nh)
            return (1 - z) * n + z * h
        return step, lambda z: z, lambda h: h
    act = {"rnn_tanh": jnp.tanh, "rnn_relu": jax.nn.relu}[kind]

    def step(p, h, x):
        gx, gh = affine(p, x, h)
        return act(gx + gh)
    return step, lambda z: z, lambda h: h


class JaxVmapStep(Step):
    """JAX: one model's train step (``lax.scan`` over the sequence, head, MSE, ``jax.grad``, Adam in
    jax.numpy) under ``jax.jit(jax.vmap(...))`` over the M models' stacked weights and data.

    Weights: those of :class:`LoopStep`'s model m (so both compute the same losses up to rounding);
    data: :func:`case_data` with seed m, as there. Enables JAX's 64-bit mode (float64 needs it;
    float32 arrays stay float32).

    Parameters
    ----------
    cell, size, dtype, num_models : as :class:`LoopStep`.
    """

    name = "jax_vmap"

    def __init__(self, cell: str, size: tuple[int, int, int, int], dtype: str, num_models: int):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        B, T, I, H = size
        rec, state0, h_of = _jax_cell(cell)
        models = [s.model.parameters() for s in LoopStep(cell, size, dtype, num_models).steps]
        names = {"rnn": {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"},
                 "head": {"w": "head.weight", "b": "head.bias"}}
        self.params = {part: {k: jnp.asarray(np.stack([p[n] for p in models])) for k, n in kn.items()}
                       for part, kn in names.items()}
        zeros = jax.tree_util.tree_map(jnp.zeros_like, self.params)
        self.opt_state = (zeros, zeros, jnp.zeros(num_models, dtype))  # m, v, t per model
        data = [case_data(size, dtype, seed=m) for m in range(num_models)]
        self.x = jnp.asarray(np.stack([d[0] for d in data]))  # (M, T, B, I)
        self.y = jnp.asarray(np.stack([d[1] for d in data]))
        b1, b2, eps, lr = 0.9, 0.999, 1e-8, MANY_LR

        def loss(p, x, y):
            z = jnp.zeros((x.shape[1], H), x.dtype)
            final, _ = jax.lax.scan(lambda s, xt: (rec(p["rnn"], s, xt), None), state0(z), x)
            pred = h_of(final) @ p["head"]["w"].T + p["head"]["b"]
            return jnp.mean((pred - y) ** 2)

        def step(p, opt_state, x, y):
            value, g = jax.value_and_grad(loss)(p, x, y)
            m, v, t = opt_state
            t = t + 1
            m = jax.tree_util.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
            v = jax.tree_util.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
            p = jax.tree_util.tree_map(lambda p_, m_, v_: p_ - lr * (m_ / (1 - b1 ** t))
                                       / (jnp.sqrt(v_ / (1 - b2 ** t)) + eps), p, m, v)
            return p, (m, v, t), value

        self._step = jax.jit(jax.vmap(step))

    def train(self):
        self.params, self.opt_state, losses = self._step(self.params, self.opt_state, self.x, self.y)
        return losses.block_until_ready()


#: side -> (class, the module it needs or None, the reason shown when it is absent).
_MANY_STEP_CLASSES = {
    "stack_1t": StackStep, "stack": StackStep, "loop": LoopStep, "torch_loop": TorchLoopStep,
    "torch_vmap": TorchVmapStep, "jax_vmap": JaxVmapStep,
}
_MANY_NEEDS = {"torch_loop": "torch", "torch_vmap": "torch", "jax_vmap": "jax"}


def many_steps(case: dict, dtype: str, threads: int, sides: Iterable[str]) -> tuple[dict, dict]:
    """The steps of a many case (:func:`fastrnn.bench.cases.many_case`) in ``dtype``.

    Parameters
    ----------
    case : the many case.
    dtype : "float32" or "float64".
    threads : the run's threads; the side "stack" runs on them, "stack_1t" on one thread.
    sides : subset of :data:`~fastrnn.bench.cases.MANY_SIDES`.

    Returns
    -------
    steps : dict
        side -> :class:`Step`, for the sides that can run here.
    absent : dict
        side -> why it is not timed ("not installed", or that fastrnn has no stack).
    """
    steps, absent = {}, {}
    args = (case["cell"], case["size"], dtype, case["num_models"])
    for side in sides:
        need = _MANY_NEEDS.get(side)
        if need is not None and importlib.util.find_spec(need) is None:
            absent[side] = "not installed"
        elif side.startswith("stack") and stack_function() is None:
            absent[side] = "no fastrnn.stack"
        elif side == "stack_1t":
            steps[side] = StackStep(*args, threads=1)
        elif side == "stack":
            steps[side] = StackStep(*args, threads=threads)
        else:
            steps[side] = _MANY_STEP_CLASSES[side](*args)
    return steps, absent
