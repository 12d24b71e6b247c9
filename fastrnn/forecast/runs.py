"""Run folders: where a train job's artefacts are written, atomically, and how an interrupted
run is kept and resumed.

:func:`run` is the whole train job (:func:`fastrnn.forecast.train` plus its folder);
:func:`write_run` writes the folder of a finished :class:`~fastrnn.forecast.TrainResult`.

Run folders
-----------
:func:`write_run` writes ``model.npz``, ``metrics.json``, ``preprocessing.json`` and, with
matplotlib, ``loss.png`` and ``forecast.png``. Everything is written into a temporary sibling
folder (a :class:`Staging` folder, ``.NAME.tmp-PID-XXXXXXXX``) which is renamed to the final name at
the very end, so a failure never leaves a half-written run. The target folder must not exist, or be
empty: a non-empty folder is refused, never overwritten. Without an explicit folder, a fresh one
``runs/<name>-<model>-<YYYYmmdd-HHMMSS>`` is reserved atomically (``os.mkdir``; ``-2``, ``-3``, ...
appended while the name is taken), so concurrent runs never share a folder.

Interrupted runs and resume
---------------------------
The staging folder is also the resumable state of a run: it holds ``resume.json`` (the resolved
configuration, the data source and a digest of the data, written when it is created) and one
``member-K.npz`` checkpoint per finished ensemble member (written atomically as each finishes; see
:mod:`fastrnn.forecast.checkpoints`). When a run is interrupted (Ctrl-C; in ``fastrnn train`` also
SIGTERM and SIGHUP) after at least one member has finished, the staging folder is kept, and
``run(None, resume=PATH)`` (``fastrnn train --resume PATH``) continues it: finished members are
loaded, the interrupted one is trained again from its start (checkpoints are per member, not per
epoch), and the result is bitwise the one an uninterrupted run gives (every array of
``model.npz``, every metric but the timings and ``created``). An interruption before any member
has finished removes the staging folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np

from fastrnn.forecast.checkpoints import member_file
from fastrnn.forecast.config import RunError, TrainConfig, validate
from fastrnn.forecast.job import TrainResult, load_series, train
from fastrnn.forecast.plots import write_plots
from fastrnn.forecast.predict import preprocessing_info


#: Inside a staging folder: the run's settings (written when the folder is created) and one
#: checkpoint per finished ensemble member. Both are removed just before the folder is committed.
_MANIFEST = "resume.json"
_MANIFEST_KIND = "fastrnn interrupted run"


def _stamped(name: str, model: str, root, now: datetime | None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{name}-{model}-{stamp}"


def _suffixed(base: Path, k: int) -> Path:
    return base if k == 1 else base.with_name(f"{base.name}-{k}")


def default_out_dir(name: str, model: str, root="runs", now: datetime | None = None) -> Path:
    """``root/<name>-<model>-<YYYYmmdd-HHMMSS>``, with ``-2``, ``-3``, ... if that exists.

    Only a suggestion: another process may take the name before it is used. :func:`run`,
    :func:`write_run` and ``fastrnn train`` reserve a default name atomically with
    :meth:`Staging.fresh` instead.
    """
    base = _stamped(name, model, root, now)
    k = 1
    while _suffixed(base, k).exists():
        k += 1
    return _suffixed(base, k)


class Staging:
    """A temporary folder beside ``final`` that becomes ``final`` on :meth:`commit`.

    Created at once, so an unwritable destination fails before any training. ``final`` (an explicit
    ``--out``) must not exist or be an empty folder; it is never overwritten. :meth:`fresh` makes one
    for a default run folder instead, whose name is *reserved* atomically: the empty folder
    ``final`` is created with ``os.mkdir`` (``-2``, ``-3``, ... appended while the name is taken), so
    two runs started in the same second never share a folder. :meth:`commit` renames the staging
    folder onto ``final`` (replacing the empty reservation in one step), so a crash never leaves a
    half-written run under a visible name: at worst an empty reserved folder and the hidden staging
    folder ``.NAME.tmp-PID-XXXXXXXX`` beside it.

    The staging folder is also the resumable state of an interrupted run: :meth:`begin` stores the
    resolved settings and a digest of the data in ``resume.json``, :func:`train` stores one
    ``member-K.npz`` checkpoint per finished ensemble member, and :meth:`resume` takes such a folder
    over again. :meth:`discard` removes the staging folder, the reservation and any parent folders
    this object created; :meth:`keep_or_discard` keeps an interrupted staging folder that holds
    finished members.

    Used as a context manager, a staging folder is committed when the block ends and kept or
    discarded (:meth:`keep_or_discard`) when it raises, so everything written into ``path`` either
    appears under ``final`` complete or not at all::

        staging = Staging.for_out(out, "airline", "lstm")
        with staging:
            write_files(result, staging.path, plot)
        staging.final  # the run folder
    """

    def __init__(self, final, _reserve: bool = False):
        self.final = Path(final)
        self.reserved = False  # True: self.final is the empty folder this run reserved
        self.config: TrainConfig | None = None  # set by begin() and resume()
        self.manifest: dict | None = None
        self._owned: bool | None = None  # None: a new run; False/True: resumed, before/after check_data
        self.kept = 0  # finished members kept by keep_or_discard when a with block raised
        if not _reserve and self.final.exists():
            if not self.final.is_dir():
                raise RunError(f"--out {self.final} exists and is not a folder; choose a new folder name")
            if any(self.final.iterdir()):
                raise RunError(f"--out {self.final} already exists and is not empty; choose a new "
                               f"folder (runs are never overwritten)")
        parent = self.final.absolute().parent
        self._created = []
        missing = []
        p = parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        try:
            for d in reversed(missing):
                try:
                    d.mkdir()
                    self._created.append(d)
                except FileExistsError:  # made by a concurrent run meanwhile: fine, not ours
                    if not d.is_dir():
                        raise
            if _reserve:
                self._reserve()
            self.path = self._make_temp(parent)
        except OSError as e:
            self._remove_created()
            reason = e.strerror or str(e)
            where = f"--out {self.final}" if not _reserve else f"the run folder {self.final}"
            raise RunError(f"cannot write to {where}: {reason}; choose a writable folder"
                           + (" with --out" if _reserve else "")) from None

    @classmethod
    def fresh(cls, name: str, model: str, root="runs", now: datetime | None = None) -> Staging:
        """A staging folder for a new default run folder ``root/<name>-<model>-<YYYYmmdd-HHMMSS>``
        (``-2``, ``-3``, ... if taken), reserved atomically (see the class docstring).

        Parameters
        ----------
        name, model : the dataset (or CSV stem) and model kind, as in :func:`default_out_dir`.
        root : folder of the runs.
        now : the time stamp to use (default: now).
        """
        return cls(_stamped(name, model, root, now), _reserve=True)

    @classmethod
    def for_out(cls, out, name: str, model: str, root="runs") -> Staging:
        """A staging folder for ``out`` (an explicit ``--out``), or for a fresh default run folder
        (:meth:`fresh`) when ``out`` is ``None``."""
        return cls(out) if out is not None else cls.fresh(name, model, root)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.commit()
        else:
            self.kept = self.keep_or_discard(exc)
        return False

    def _reserve(self) -> None:
        base = self.final
        for k in range(1, 10_000):
            candidate = _suffixed(base, k)
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            self.final, self.reserved = candidate, True
            return
        raise FileExistsError(17, "every suffix of the run folder name is taken", str(base))

    def _make_temp(self, parent: Path) -> Path:
        # os.mkdir (not tempfile.mkdtemp, which makes the folder private) keeps the user's umask.
        for _ in range(100):
            path = parent / f".{self.final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
        raise FileExistsError(17, "could not create a temporary folder", str(parent))

    def _remove_created(self):
        if self.reserved:
            try:
                self.final.rmdir()  # only while still empty
            except OSError:
                pass
            self.reserved = False
        for d in reversed(self._created):
            try:
                d.rmdir()
            except OSError:
                pass
        self._created = []

    # -- resumable state -------------------------------------------------------------------------

    def begin(self, cfg: TrainConfig, data, plot: bool = True) -> None:
        """Store what :meth:`resume` needs in the staging folder: the resolved configuration, the
        data source, a digest of the data (``data``: the Dataset), the final folder and ``plot``.

        Written atomically (a temporary name, then ``os.replace``).
        """
        from fastrnn import __version__

        self.config = cfg
        self.manifest = {
            "kind": _MANIFEST_KIND, "format": 1, "fastrnn_version": __version__,
            "final": str(self.final.absolute()), "reserved": self.reserved,
            "config": cfg.to_dict(), "source": cfg.source(), "data_sha256": _data_digest(data),
            "plot": bool(plot), "members": cfg.ensemble,
        }
        tmp = self.path / f".{_MANIFEST}.tmp"
        _write_json(tmp, self.manifest)
        os.replace(tmp, self.path / _MANIFEST)

    def finished_members(self) -> int:
        """How many ensemble members have a checkpoint. Members train together in one stack and
        each is checkpointed when it stops, so any of them may have finished, in any order."""
        total = self.config.ensemble if self.config is not None else 0
        return sum((self.path / member_file(k)).is_file() for k in range(total))

    @classmethod
    def resume(cls, path) -> Staging:
        """Take over the staging folder of an interrupted run to continue it.

        ``path`` is the staging folder (``.NAME.tmp-PID-XXXXXXXX``, printed when the run was
        interrupted) or the run folder it reserved (``NAME``, then its one staging folder beside it
        is used). The folder is renamed to one with this process's id, so two processes cannot
        resume the same run. The settings come from its ``resume.json`` (:attr:`config`); the data
        is checked against the stored digest by :meth:`check_data`. Raises :class:`RunError` for a
        folder that is not an interrupted run, or a finished one.
        """
        p = Path(path)
        if not p.exists():
            raise RunError(f"--resume {p} does not exist; pass the folder printed when the run was "
                           f"interrupted")
        if not p.is_dir():
            raise RunError(f"--resume {p} is not a folder; pass the folder printed when the run was "
                           f"interrupted")
        if (p / "model.npz").is_file() and not (p / _MANIFEST).is_file():
            raise RunError(f"--resume {p} is a finished run (it has model.npz); there is nothing to "
                           f"resume: use it with `fastrnn predict --model {p}`, or train again "
                           f"without --resume")
        if not (p / _MANIFEST).is_file():
            siblings = sorted(c for c in p.absolute().parent.glob(f".{p.name}.tmp-*")
                              if (c / _MANIFEST).is_file())
            if len(siblings) > 1:
                raise RunError(f"--resume {p}: several interrupted runs reserved this folder "
                               f"({', '.join(c.name for c in siblings)}); pass one of them")
            if not siblings:
                raise RunError(f"--resume {p} is not an interrupted run (no {_MANIFEST} in it or in a "
                               f".{p.name}.tmp-* folder beside it); pass the folder printed when the "
                               f"run was interrupted")
            p = siblings[0]
            try:
                p = p.relative_to(Path.cwd())
            except ValueError:
                pass
        try:
            manifest = json.loads((p / _MANIFEST).read_text(encoding="utf-8"))
            if manifest.get("kind") != _MANIFEST_KIND:
                raise ValueError("not written by fastrnn train")
            final = Path(manifest["final"])
            try:  # shown as it was given when it lies in the current folder
                final = final.relative_to(Path.cwd())
            except ValueError:
                pass
            cfg = TrainConfig(**manifest["config"])
            validate(cfg)
            stored_csv = manifest["source"].get("csv")
            if cfg.csv is not None and stored_csv and Path(cfg.csv).resolve() != Path(stored_csv):
                cfg.csv = stored_csv  # resumed from another folder: the file the run started on
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise RunError(f"{p / _MANIFEST} is not a valid resume file ({e}); train again without "
                           f"--resume") from None
        if final.exists() and (not final.is_dir() or any(final.iterdir())):
            raise RunError(f"{final}, the folder this run was to be saved in, is not empty any more; "
                           f"move it away and resume again")
        self = cls.__new__(cls)
        self.final, self.reserved, self._created = final, bool(manifest.get("reserved")), []
        self.config, self.manifest, self.path, self._owned = cfg, manifest, p, False
        return self

    def check_data(self, data) -> None:
        """Check that ``data`` (a Dataset) is the series a resumed run started on, then take the
        staging folder over: rename it to one with this process's id, atomically, so that a second
        ``--resume`` of the same folder fails. Raises :class:`RunError` (and leaves the folder as it
        was) if the data changed or another process took the folder first.
        """
        if self._owned:
            return
        if _data_digest(data) != self.manifest.get("data_sha256"):
            raise RunError(f"the data of this run changed since it was interrupted "
                           f"({self.manifest['source']}); resuming would mix two series: train again "
                           f"without --resume")
        old = self.path
        new = old.parent / f".{self.final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(old, new)
        except FileNotFoundError:
            raise RunError(f"--resume {old}: another process has just taken this run over") from None
        except OSError as e:
            raise RunError(f"cannot resume {old}: {e.strerror or e}; check the folder's "
                           f"permissions") from None
        self.path, self._owned = new, True
        for stray in new.glob(".*.tmp"):  # a checkpoint cut short by the interruption
            stray.unlink()

    # -- ending ----------------------------------------------------------------------------------

    def commit(self) -> Path:
        """Give the staging folder its final name, then remove the checkpoints from it.

        In this order, an interruption at any point leaves either the resumable staging folder or
        the complete run (at worst with a leftover checkpoint file in it), never less.
        """
        try:
            os.rename(self.path, self.final)  # POSIX: replaces an empty folder in one step
        except OSError:
            try:  # Windows does not rename onto an existing (empty) folder
                self.final.rmdir()
                os.rename(self.path, self.final)
            except OSError:
                raise RunError(f"--out {self.final} was filled by something else during training; "
                               f"run again with a new folder") from None
        self._created, self.reserved = [], False
        for f in list(self.final.iterdir()):
            if f.name == _MANIFEST or (f.name.startswith("member-") and f.name.endswith(".npz")):
                f.unlink()
        return self.final

    def discard(self) -> None:
        """Remove the staging folder, the reserved run folder and the parents this object made."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._remove_created()

    def keep_or_discard(self, exc: BaseException) -> int:
        """After ``exc`` ended the run: keep the staging folder if at least one member has finished
        (its checkpoint is the resumable state) and ``exc`` is an interruption (``KeyboardInterrupt``,
        which the CLI also raises for SIGTERM and SIGHUP) or this is a resumed run (its state is
        never thrown away by a failure); otherwise :meth:`discard`.

        Returns the number of finished members kept (0: everything was removed).
        """
        if self._owned is False:  # a resume that failed before taking the folder over
            return self.finished_members()
        if (isinstance(exc, KeyboardInterrupt) or self._owned) and self.manifest is not None:
            n = self.finished_members()
            if n:
                return n
        self.discard()
        return 0

    def resume_path(self) -> Path:
        """What to pass to :meth:`resume`: the reserved run folder if there is one (it leads to this
        staging folder), else the staging folder itself."""
        return self.final if self.reserved else self.path


def _data_digest(data) -> str:
    """SHA-256 of a Dataset's values (float64), dates (int64 nanoseconds, if any) and covariates
    (each name and its float64 values, in name order; nothing for a Dataset without any, so the
    digests of runs without covariates are as they were)."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(data.values, dtype=np.float64).tobytes())
    if data.dates is not None:
        h.update(np.asarray(data.dates.asi8, dtype=np.int64).tobytes())
    for name in sorted(getattr(data, "covariates", None) or {}):
        h.update(name.encode("utf-8") + b"\0")
        h.update(np.ascontiguousarray(data.covariates[name], dtype=np.float64).tobytes())
    return h.hexdigest()


def write_run(result: TrainResult, out=None, plot: bool = True, root="runs"):
    """Write the run's artefacts to ``out`` atomically (default: a fresh folder
    ``root/<name>-<model>-<time>``, reserved atomically by :meth:`Staging.fresh`).

    Returns ``(path, note)``; ``note`` says why the plots were skipped (matplotlib missing), or is
    ``None``.
    """
    staging = Staging.for_out(out, result.config.name, result.config.model, root)
    with staging:
        note = write_files(result, staging.path, plot)
    return staging.final, note


def run(cfg: TrainConfig, out=None, plot: bool = True, progress: bool | None = None, root="runs",
        resume=None):
    """The whole train job: reserve the run folder (so an unwritable one fails before training),
    :func:`train` with a checkpoint per finished ensemble member in the staging folder, write the
    artefacts, and only then give the folder its final name.

    ``resume``: the staging folder of an interrupted run (or the run folder it reserved; see
    :meth:`Staging.resume`) to continue instead; ``cfg`` must then be ``None`` (the stored settings
    are used) and ``out``/``root`` are ignored. On an interruption (``KeyboardInterrupt``) after at
    least one member has finished, the staging folder is kept for ``resume`` (see
    :meth:`Staging.keep_or_discard`); on any other failure nothing is left behind.

    Returns ``(result, path, note)`` as :func:`train` and :func:`write_run`.
    """
    if resume is not None:
        if cfg is not None:
            raise ValueError("resume continues a run with its stored settings; pass cfg=None")
        staging = Staging.resume(resume)
        cfg = staging.config
    else:
        staging = Staging.for_out(out, cfg.name, cfg.model, root)
    with staging:  # kept for resume if interrupted after a member finished, else discarded
        data = load_series(cfg)
        if resume is not None:
            staging.check_data(data)
        else:
            staging.begin(cfg, data, plot)
        result = train(cfg, progress=progress, data=data, checkpoint=staging.path)
        note = write_files(result, staging.path, plot)
    return result, staging.final, note


def write_files(result: TrainResult, folder: Path, plot: bool) -> str | None:
    """Write every artefact into ``folder``; returns a note if the plots were skipped."""
    from fastrnn.forecast.predict import model_files

    for name, model in model_files(result).items():  # model.npz; a combination's members
        model.save(folder / name)
    _write_json(folder / "metrics.json", result.metrics)
    _write_json(folder / "preprocessing.json", preprocessing_info(result))
    if not plot:
        return None
    return write_plots(result, folder)


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, allow_nan=False, default=_json_default)
        f.write("\n")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
