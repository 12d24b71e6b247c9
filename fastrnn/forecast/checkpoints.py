"""Checkpoints of finished ensemble members: the resumable state of an interrupted run.

:func:`fastrnn.forecast.train` saves each member's weights, history and training time as
``member-K.npz`` (atomically) in the run's staging folder as soon as it has finished, and loads a
member whose checkpoint is there instead of training it again; :class:`fastrnn.forecast.Staging`
counts them and keeps them across an interruption.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from fastrnn.forecast.config import RunError


def member_file(k: int) -> str:
    """The file name of member ``k``'s checkpoint (``member-K.npz``) inside a staging folder."""
    return f"member-{k}.npz"


def save_member(folder: Path, k: int, model, hist, seconds: float) -> None:
    """Checkpoint finished member ``k`` (weights, history, seconds) atomically."""
    arrays = {f"param.{n}": v for n, v in model.state_dict().items()}
    arrays.update(seed=np.int64(model.seed), history=np.array(json.dumps(hist.to_dict())),
                  train_seconds=np.float64(seconds))
    tmp = folder / f".{member_file(k)}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / member_file(k))


def load_member(folder: Path, k: int, model) -> tuple | None:
    """Load member ``k``'s checkpoint into ``model``; ``None`` if there is none."""
    from fastrnn.trainer import History

    path = folder / member_file(k)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["seed"]) != model.seed:
                raise ValueError(f"seed {int(z['seed'])}, expected {model.seed}")
            model.load_state_dict({n[len("param."):]: z[n] for n in z.files if n.startswith("param.")})
            hist = History.from_dict(json.loads(str(z["history"])))
            return hist, float(z["train_seconds"])
    except (OSError, ValueError, KeyError) as e:
        raise RunError(f"checkpoint {path} is damaged or does not match the run ({e}); train again "
                       f"without --resume") from None
