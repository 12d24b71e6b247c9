"""What the benchmark times: the choices (sizes, datasets, cells, dtypes, backends, modes), the cases
built from them and the GEMM FLOPs of a case.

A *case* is a dict ``{"case": name, "cell", "size": (B, T, I, H), "train": {...}}``: ``name`` is a
shipped dataset (:func:`dataset_case`, with its ``ensemble`` size) or ``"grid"`` (:func:`grid_cases`);
``train`` holds the keyword arguments of the step factories (:data:`fastrnn.bench.steps.STEP_FACTORIES`).
A *many* case (:func:`many_case`) also has ``num_models``: M independent models, one train step of
each, timed on the sides of :data:`MANY_SIDES` (steps in :mod:`fastrnn.bench.steps`).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

from fastrnn import cells as _cells

#: (B, T, I, H): batch, sequence length, input size, hidden size.
SIZES = ((1, 1, 1, 256), (32, 12, 1, 64), (64, 50, 8, 128), (128, 100, 64, 512))
#: The shipped datasets whose default models are timed (see :func:`dataset_case`).
DATASETS = ("airline", "temperature", "stock")
CELLS = _cells.KINDS
DTYPES = ("float32", "float64")
BACKENDS = ("numpy", "numba", "torch")
MODES = ("train", "infer")
#: Number of gate blocks per cell.
GATES = _cells.KIND_GATES
#: fastrnn.functional's name of each benchmark cell ("rnn" is the tanh Elman RNN).
FUNCTIONAL_CELL = {kind: _cells.cell_for(kind) for kind in CELLS}
#: Outputs of the linear head of every case.
OUTPUT_SIZE = 1
#: Learning rate of the grid's SGD step.
LR = 1e-3
#: (B, T, I, H) of a ``--many`` case: issue 12's M independent LSTMs.
MANY_SIZE = (32, 24, 1, 32)
#: The number of models of issue 12's ``--many`` case.
MANY_DEFAULT = 64
#: The sides a ``--many`` case times: the fastrnn stack on one thread and on the run's threads, a
#: Python loop over fastrnn trainers, a loop over PyTorch modules, ``torch.func.vmap`` over stacked
#: modules and JAX ``vmap`` of a jitted step (the peers only when installed).
MANY_SIDES = ("stack_1t", "stack", "loop", "torch_loop", "torch_vmap", "jax_vmap")
#: The peers of the stack among :data:`MANY_SIDES` (its speed-up is over the fastest present).
MANY_PEERS = ("torch_loop", "torch_vmap", "jax_vmap")


def flops(cell: str, size: tuple[int, int, int, int], mode: str = "train", output_size: int = OUTPUT_SIZE,
          num_layers: int = 1) -> int:
    """GEMM FLOPs of one step of a case.

    Forward ``2 T B G H (I + H)`` for the first layer, ``2 T B G H 2H`` for each further one, plus
    the head ``2 B H O``; the backward pass is counted as twice the forward, so a train step is 3x
    the forward.

    Parameters
    ----------
    cell : one of :data:`CELLS`.
    size : (B, T, I, H).
    mode : "train" or "infer".
    output_size : O, the outputs of the head.
    num_layers : stacked layers.

    Returns
    -------
    int
        The FLOPs.
    """
    B, T, I, H = size
    fwd = 2 * T * B * GATES[cell] * H * ((I + H) + (num_layers - 1) * 2 * H) + 2 * B * H * output_size
    return fwd if mode == "infer" else 3 * fwd


def dataset_case(name: str) -> dict:
    """The benchmark case of ``name``'s default model.

    Derived from :func:`fastrnn.forecast.make_config` as :func:`fastrnn.forecast.build_model` and
    :func:`fastrnn.forecast.fit_model` use it.

    Parameters
    ----------
    name : one of :data:`DATASETS`.

    Returns
    -------
    dict
        ``{"case": name, "cell", "size": (B, T, I, H), "train": {"optimizer", "lr", "clip_norm",
        "num_layers"}, "ensemble"}``: B is the training batch size, T the look-back, I the inputs per
        step (3 with calendar features, else 1), H the hidden size. ``train`` holds the keyword
        arguments of the step factories. An ensemble default trains ``ensemble`` members of this
        size one after the other, so one member's step is the case.

    Raises
    ------
    ValueError
        If ``name`` is not a shipped dataset.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    from fastrnn.forecast import make_config

    cfg = make_config(dataset=name)
    return {
        "case": name, "cell": cfg.model, "size": (cfg.batch_size, cfg.look_back, 3 if cfg.calendar else 1, cfg.hidden),
        "train": {"optimizer": cfg.optimizer, "lr": cfg.lr, "clip_norm": cfg.clip_norm, "num_layers": cfg.layers},
        "ensemble": cfg.ensemble,
    }


def many_case(num_models: int, cell: str = "lstm", size: tuple[int, int, int, int] = MANY_SIZE) -> dict:
    """The case of ``num_models`` independent models of ``cell`` trained together.

    Every model has its own weights (seed m for model m) and its own data (inputs and targets from
    seed m); one step of the case is one train step of each: forward, linear head on h_T, MSE,
    BPTT and an Adam update (lr 1e-3), no clipping.

    Parameters
    ----------
    num_models : M, at least 1 (issue 12's case: :data:`MANY_DEFAULT`).
    cell : one of :data:`CELLS`.
    size : (B, T, I, H) of each model.

    Returns
    -------
    dict
        ``{"case": "many", "cell", "size", "train": {"optimizer": "adam", "lr": 1e-3},
        "num_models": M}``.

    Raises
    ------
    ValueError
        If ``num_models`` is not an integer >= 1 or ``cell`` is unknown.
    """
    if isinstance(num_models, bool) or not isinstance(num_models, numbers.Integral) or num_models < 1:
        raise ValueError(f"the number of models must be an integer >= 1 (issue 12's case: {MANY_DEFAULT}); "
                         f"got {num_models!r}")
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}")
    return {"case": "many", "cell": cell, "size": tuple(size), "train": {"optimizer": "adam", "lr": 1e-3},
            "num_models": int(num_models)}


def grid_cases(sizes: Iterable[tuple[int, int, int, int]], cells: Iterable[str]) -> list[dict]:
    """The grid's cases: every (size, cell), one layer, the step factories' default training.

    Parameters
    ----------
    sizes : (B, T, I, H) tuples.
    cells : subset of :data:`CELLS`.

    Returns
    -------
    list of dict
        Cases named ``"grid"`` with an empty ``train``, sizes outermost.
    """
    cells = list(cells)
    return [{"case": "grid", "cell": cell, "size": tuple(size), "train": {}} for size in sizes for cell in cells]


def case_row(case: dict) -> dict:
    """The keys of a result or ratio row that identify ``case``.

    Parameters
    ----------
    case : a case (:func:`dataset_case`, :func:`grid_cases`).

    Returns
    -------
    dict
        ``case`` (the dataset name, "grid" or "many"), ``B``, ``T``, ``I``, ``H`` and ``cell``; for a
        dataset also its training settings and ``ensemble``; for a many case ``num_models``.
    """
    B, T, I, H = case["size"]
    row = {"case": case["case"], "B": B, "T": T, "I": I, "H": H, "cell": case["cell"]}
    if case["case"] == "many":
        row["num_models"] = case["num_models"]
    elif case["case"] != "grid":
        row.update(case["train"], ensemble=case["ensemble"])
    return row


def parse_size(text: str) -> tuple[int, int, int, int]:
    """``"B,T,I,H"`` (or ``"BxTxIxH"``) -> ``(B, T, I, H)``.

    Raises
    ------
    ValueError
        Unless the text is four positive integers.
    """
    try:
        size = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        size = ()
    if len(size) != 4 or min(size) < 1:
        raise ValueError(f"a size is four positive integers B,T,I,H; got {text!r}")
    return size
