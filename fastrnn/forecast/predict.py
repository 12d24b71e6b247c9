"""Loading a trained run and forecasting with it (``fastrnn predict``).

A run folder's ``preprocessing.json`` holds what forecasting needs besides the weights (look-back,
transform, fitted scaler, data source): :func:`preprocessing_info` writes it, :func:`load_run`
checks it against its schema and the model before :func:`load_run` returns a :class:`Run`.
:func:`forecast` extends a series recursively with the run's model (a combination's members:
:func:`combination_step`); :func:`future_dates` continues
its dates, within the limits :func:`max_steps` and :func:`check_steps` enforce.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastrnn.forecast.config import READ_SETTINGS, RunError, check_positive_int
from fastrnn.forecast.job import TrainResult, iso_date, predict_mean

#: Newest format of ``preprocessing.json`` (2: calendar features; 3: covariates, or a combination
#: whose members' files are listed under ``"combine"``; runs without them are still written as
#: format 1 or 2, which older readers understand).
RUN_FORMAT = 3


def scaler_to_dict(scaler) -> dict:
    """A fitted scaler as the ``"scaler"`` object of ``preprocessing.json``."""
    name = getattr(scaler, "name", None)
    if name == "minmax":
        return {"name": "minmax", "min": scaler.min_, "scale": scaler.scale_}
    if name == "standard":
        return {"name": "standard", "mean": scaler.mean_, "scale": scaler.scale_}
    return {"name": None}


def scaler_from_dict(d: dict):
    """The fitted scaler that :func:`scaler_to_dict` wrote (``d`` checked by :func:`load_run`)."""
    from fastrnn.forecast.preprocessing import make_scaler

    s = make_scaler(d.get("name"))
    if d.get("name") == "minmax":
        s.min_, s.scale_ = float(d["min"]), float(d["scale"])
    elif d.get("name") == "standard":
        s.mean_, s.scale_ = float(d["mean"]), float(d["scale"])
    return s


def preprocessing_info(result: TrainResult) -> dict:
    """What ``predict`` needs besides the weights: look-back, transform, fitted scaler, source."""
    cfg, prep, ds = result.config, result.prep, result.data
    source = cfg.source()
    if source.get("csv") and ds.read_info:  # what was detected, so that predict reads it alike
        source.update({k: ds.read_info[k] for k in READ_SETTINGS})
    covs = getattr(prep, "covariate_scaler", None) is not None
    combo = combination_info(result)
    return {
        # format 1 readers would ignore the calendar inputs, format 2 readers the covariates or a
        # combination
        "format": 3 if covs or combo else 2 if prep.calendar else 1,
        "look_back": prep.look_back,
        "horizon": prep.horizon,
        "transform": prep.transform,
        "calendar": bool(prep.calendar),
        "ensemble": cfg.ensemble,
        "scaler": scaler_to_dict(prep.scaler),
        "source": source,
        "name": cfg.name,
        "column": ds.column,
        "season": prep.season,
        "data_end": iso_date(ds.end),
        "n_points": len(ds),
        # the covariates' names (also in "source", which predict reads them with) and scaler
        **({"covariates": {"known": list(prep.covariates), "past": list(prep.past_covariates),
                           "scaler": prep.covariate_scaler.to_dict()}} if covs else {}),
        # conformal intervals (fastrnn.forecast.intervals): older readers ignore the key
        **({"intervals": {k: result.metrics["intervals"][k] for k in ("levels", "quantiles", "scale")}}
           if result.metrics.get("intervals") else {}),
        **({"combine": combo} if combo else {}),
    }


def _member_file(name: str) -> str:
    return f"combine-{name}.npz"


def combination_info(result: TrainResult) -> dict | None:
    """The ``"combine"`` object of a combination run's ``preprocessing.json``: its members in
    order, each with its weight, its model file (``null`` for persistence) and its ensemble size;
    ``None`` for a run of one model."""
    from fastrnn.forecast.combine import Combination

    combo = result.model
    if not isinstance(combo, Combination):
        return None
    members = []
    for name, model in combo.models.items():
        members.append({"name": name, "weight": float(combo.weights[name]),
                        "file": None if model is None else _member_file(name),
                        "ensemble": int(getattr(model, "num_models", None) or 1)})
    return {"members": members}


def model_files(result: TrainResult) -> dict:
    """The model files of a run: file name -> model to save (``model.npz``; for a combination
    ``combine-<member>.npz`` per member with a model)."""
    info = combination_info(result)
    if info is None:
        return {"model.npz": result.model}
    return {m["file"]: result.model.models[m["name"]] for m in info["members"] if m["file"]}



@dataclass
class Run:
    """A trained run loaded from disk."""

    path: Path
    model: object  # None for a combination (see members)
    info: dict  # preprocessing.json
    members: dict | None = None  # a combination: name -> (model or None for persistence, weight)

    @property
    def look_back(self) -> int:
        return int(self.info["look_back"])

    @property
    def transform(self) -> str | None:
        return self.info.get("transform")

    @property
    def calendar(self) -> bool:
        return bool(self.info.get("calendar", False))

    @property
    def covariates(self) -> tuple:
        """Names of the covariates known in advance the model reads (``()`` if none)."""
        return tuple((self.info.get("covariates") or {}).get("known", ()))

    @property
    def past_covariates(self) -> tuple:
        """Names of the past covariates the model reads (``()`` if none)."""
        return tuple((self.info.get("covariates") or {}).get("past", ()))

    def source_config(self) -> dict:
        return dict(self.info["source"])


_RETRAIN = "retrain with `fastrnn train` (the file was changed or damaged)"
_SOURCE_STR_KEYS = ("column", "date_column", "start", "end", "sep", "decimal", "encoding",
                    "date_format")
_MISSING_DATES = ("error", "fill", "ignore")


def _json_type(v) -> str:
    return {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
            str: "a string", list: "a list", dict: "an object"}.get(type(v), type(v).__name__)


def _is_int(v, minimum=None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and (minimum is None or v >= minimum)


def _is_finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_run_info(info, where: str, model=None, metrics=None) -> None:
    """Check a ``preprocessing.json`` against its schema (see :func:`preprocessing_info`) and
    against the run's model (input size, ensemble width) and ``metrics.json`` (look-back), so that a
    changed file is refused instead of giving silently wrong forecasts. Unknown top-level keys are
    ignored (a newer fastrnn may add some); unknown keys in ``scaler`` and ``source`` are refused.
    Raises :class:`RunError` naming the first bad field, what it should be and what it is."""
    from fastrnn.forecast.datasets import names

    def bad(field, expected, got=None, detail=None):
        if detail is None:  # as it is written in the file
            detail = "null" if got is None else f"{json.dumps(got)} ({_json_type(got)})"
        got = detail
        return RunError(f"{where}: {field} must be {expected}; got {got}; {_RETRAIN}")

    if not isinstance(info, dict):
        raise bad("the file", "a JSON object", info)
    for key in ("format", "look_back", "horizon", "transform", "calendar", "ensemble", "scaler",
                "source", "name", "column", "season", "data_end", "n_points"):
        if key not in info and key not in ("format", "calendar", "ensemble"):  # absent in old runs
            raise bad(f"'{key}'", "present", detail="nothing (the key is missing)")
    fmt = info.get("format", 1)
    if not _is_int(fmt, 1):
        raise bad("'format'", f"an integer from 1 to {RUN_FORMAT}", fmt)
    if fmt > RUN_FORMAT:
        raise RunError(f"{where} has format {fmt}; this fastrnn reads up to {RUN_FORMAT}: "
                       f"upgrade fastrnn")
    if not _is_int(info["n_points"], 1):
        raise bad("'n_points'", "an integer >= 1", info["n_points"])
    if info["transform"] not in (None, "log", "diff", "log+diff"):
        raise bad("'transform'", 'null, "log", "diff" or "log+diff"', info["transform"])
    offset = int("diff" in (info["transform"] or ""))
    lb = info["look_back"]
    # training needed one train, one validation and one test target after the first look-back
    longest = info["n_points"] - offset - 3
    if not _is_int(lb, 1) or lb > max(longest, 1):
        raise bad("'look_back'", f"an integer from 1 to {max(longest, 1)} (the series had "
                  f"{info['n_points']} points)", lb)
    cfg = metrics.get("config") if isinstance(metrics, dict) else None
    if isinstance(cfg, dict) and _is_int(cfg.get("look_back")) and cfg["look_back"] != lb:
        raise bad("'look_back'", f"{cfg['look_back']}, the look-back the model was trained with "
                  f"(metrics.json)", lb)
    if info["horizon"] != 1 or isinstance(info["horizon"], bool):
        raise bad("'horizon'", "1 (one step ahead)", info["horizon"])
    calendar = info.get("calendar", False)
    if not isinstance(calendar, bool):
        raise bad("'calendar'", "true or false (a JSON boolean)", calendar)
    if calendar and fmt < 2:
        raise bad("'format'", "2 or more for a run with calendar features", fmt)
    ensemble = info.get("ensemble", 1)
    if not _is_int(ensemble, 1):
        raise bad("'ensemble'", "an integer >= 1", ensemble)
    n_cov = _check_covariates(info.get("covariates"), bad, fmt) if "covariates" in info else 0
    if model is not None:
        n_in = (3 if calendar else 1) + n_cov
        if n_cov and model.input_size != n_in:
            raise bad("'covariates'", f"{model.input_size - (3 if calendar else 1)} names in all for this "
                      f"model.npz ({model.input_size} input(s) per step)", detail=f"{n_cov}")
        if not n_cov and model.input_size not in (1, 3):
            raise bad("'covariates'", f"present for this model.npz ({model.input_size} inputs per step: the "
                      f"value, calendar features and covariates)", detail="nothing (the key is missing)")
        if model.input_size != n_in:
            raise bad("'calendar'", f"{str(model.input_size == 3).lower()} for this model.npz "
                      f"({model.input_size} input(s) per step; 3 with calendar features, 1 "
                      f"without)", calendar)
        stacked = getattr(model, "num_models", None)  # a stack of the members; else one merged model
        if stacked is not None and stacked != ensemble:
            raise bad("'ensemble'", f"{stacked}, the number of members in this model.npz", ensemble)
        if stacked is None and model.hidden_size % ensemble:
            raise bad("'ensemble'", f"a divisor of the model's hidden size {model.hidden_size} "
                      f"(the members side by side)", ensemble)
        if model.output_size != 1 or model.return_sequences:
            raise RunError(f"{where}: the run's model.npz is not a one-step forecaster (it has "
                           f"{model.output_size} outputs, return_sequences "
                           f"{model.return_sequences}); {_RETRAIN}")
    sc = info["scaler"]
    fields = {"minmax": ("min", "scale"), "standard": ("mean", "scale"), None: ()}
    if not isinstance(sc, dict):
        raise bad("'scaler'", 'an object {"name": "minmax" | "standard" | null, ...}', sc)
    if "name" not in sc or sc["name"] not in fields or isinstance(sc["name"], bool):
        raise bad("'scaler.name'", '"minmax", "standard" or null', sc.get("name"),
                  None if "name" in sc else "nothing (the key is missing)")
    wanted = fields[sc["name"]]
    extra = sorted(set(sc) - {"name", *wanted})
    if extra:
        raise bad("'scaler'", f"an object with the keys name{''.join(', ' + w for w in wanted)}",
                  detail=f"also {', '.join(map(repr, extra))}")
    for key in wanted:
        if key not in sc:
            raise bad(f"'scaler.{key}'", "a finite number", detail="nothing (the key is missing)")
        v = sc[key]
        if not _is_finite_number(v) or (key == "scale" and v == 0):
            raise bad(f"'scaler.{key}'", "a finite non-zero number" if key == "scale"
                      else "a finite number", v)
    src = info["source"]
    if not isinstance(src, dict):
        raise bad("'source'", 'an object with "dataset" or "csv"', src)
    allowed = {"dataset", "csv", *_SOURCE_STR_KEYS, "header", "missing_dates", "covariates", "past_covariates"}
    extra = sorted(set(src) - allowed)
    if extra:
        raise bad("'source'", f"an object with the keys {', '.join(sorted(allowed))}",
                  detail=f"also {', '.join(map(repr, extra))}")
    dataset, csv = src.get("dataset"), src.get("csv")
    if (dataset is None) == (csv is None):
        raise bad("'source'", 'an object with exactly one of "dataset" and "csv"',
                  detail="both" if dataset is not None else "neither")
    if dataset is not None and dataset not in names():
        raise bad("'source.dataset'", f"one of {', '.join(names())}", dataset)
    if csv is not None and not (isinstance(csv, str) and csv):
        raise bad("'source.csv'", "the path of the CSV file (a non-empty string)", csv)
    for key in _SOURCE_STR_KEYS:
        if not isinstance(src.get(key), (str, type(None))):
            raise bad(f"'source.{key}'", "a string or null", src[key])
    if "header" in src and not isinstance(src["header"], bool):
        raise bad("'source.header'", "true or false (a JSON boolean)", src["header"])
    cov = info.get("covariates") or {}
    for key, kind in (("covariates", "known"), ("past_covariates", "past")):
        if list(src.get(key) or []) != list(cov.get(kind, [])):
            raise bad(f"'source.{key}'", f"the names of 'covariates.{kind}', {json.dumps(cov.get(kind, []))}",
                      src.get(key))
    if src.get("missing_dates", "error") not in _MISSING_DATES:
        raise bad("'source.missing_dates'", ", ".join(f'"{m}"' for m in _MISSING_DATES),
                  src["missing_dates"])
    for key in ("name", "column"):
        if not isinstance(info[key], str):
            raise bad(f"'{key}'", "a string", info[key])
    if info["season"] is not None and not _is_int(info["season"], 1):
        raise bad("'season'", "an integer >= 1 or null", info["season"])
    if not isinstance(info["data_end"], (str, type(None))):
        raise bad("'data_end'", "a date (a string) or null", info["data_end"])
    if "intervals" in info:
        _check_intervals(info["intervals"], bad)
    if "combine" in info:
        _check_combine(info["combine"], bad)
    elif fmt >= 3 and "covariates" not in info and model is not None and model.input_size in (1, 3):
        # format 3 is a combination or a run with covariates (a model with more inputs says which,
        # above); a model.npz of one or three inputs in a format 3 run lost its "combine"
        raise bad("'combine'", "present in a format 3 run", detail="nothing (the key is missing)")


def _check_combine(c, bad) -> None:
    """The ``"combine"`` object of a ``preprocessing.json`` (:func:`combination_info`)."""
    from fastrnn.forecast.config import COMBINE_MEMBERS

    shape = '{"members": [{"name": ..., "weight": ..., "file": ..., "ensemble": ...}, ...]}'
    if not isinstance(c, dict) or set(c) != {"members"} or not isinstance(c["members"], list) or not c["members"]:
        raise bad("'combine'", f"an object {shape}", c)
    seen = set()
    for k, m in enumerate(c["members"]):
        where = f"'combine.members[{k}]'"
        if not isinstance(m, dict) or set(m) != {"name", "weight", "file", "ensemble"}:
            raise bad(where, "an object with the keys name, weight, file, ensemble", m)
        if m["name"] not in COMBINE_MEMBERS or m["name"] in seen:
            raise bad(where + ".name", f"a distinct one of {', '.join(COMBINE_MEMBERS)}", m["name"])
        seen.add(m["name"])
        if not _is_finite_number(m["weight"]) or not 0 <= m["weight"] <= 1:
            raise bad(where + ".weight", "a number from 0 to 1", m["weight"])
        want = None if m["name"] == "persistence" else _member_file(m["name"])
        if m["file"] != want:
            raise bad(where + ".file", "null" if want is None else json.dumps(want), m["file"])
        if not _is_int(m["ensemble"], 1):
            raise bad(where + ".ensemble", "an integer >= 1", m["ensemble"])
    total = sum(m["weight"] for m in c["members"])
    if abs(total - 1) > 1e-6:
        raise bad("'combine.members[*].weight'", "weights summing to 1", detail=f"weights summing to {total:.6g}")


def _check_covariates(cov, bad, fmt: int) -> int:
    """The ``"covariates"`` object of a ``preprocessing.json``: ``known`` and ``past`` (lists of
    distinct names) and ``scaler`` (``mean`` and ``scale``, one finite number per name, scales
    non-zero). Returns the number of covariate inputs."""
    shape = '{"known": [names], "past": [names], "scaler": {"mean": [...], "scale": [...]}}'
    if fmt < 3:
        raise bad("'format'", "3 or more for a run with covariates", fmt)
    if not isinstance(cov, dict) or set(cov) != {"known", "past", "scaler"}:
        raise bad("'covariates'", f"an object {shape}", cov)
    names = []
    for kind in ("known", "past"):
        v = cov[kind]
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise bad(f"'covariates.{kind}'", "a list of column names", v)
        names += v
    if not names or len(set(names)) != len(names):
        raise bad("'covariates'", "one or more distinct column names in known and past", detail=", ".join(names))
    sc = cov["scaler"]
    if not isinstance(sc, dict) or set(sc) != {"mean", "scale"}:
        raise bad("'covariates.scaler'", 'an object {"mean": [...], "scale": [...]}', sc)
    for key in ("mean", "scale"):
        v = sc[key]
        if not isinstance(v, list) or len(v) != len(names) or not all(
                _is_finite_number(x) and (key == "mean" or x > 0) for x in v):
            what = "finite numbers" if key == "mean" else "positive numbers"
            raise bad(f"'covariates.scaler.{key}'", f"{len(names)} {what} (one per covariate)", v)
    return len(names)


def _check_intervals(iv, bad) -> None:
    """The ``"intervals"`` object of a ``preprocessing.json``: ``levels`` (percentages) and either
    ``quantiles`` (per level's key, one number >= 0 or null per step, in window scales) with
    ``scale`` (``look_back`` and ``floor`` of :func:`fastrnn.forecast.intervals.window_scale`), or,
    in runs written before intervals were normalised, ``half_widths`` (the same, in original
    units)."""
    from fastrnn.forecast.intervals import check_levels, level_key

    shape = '{"levels": [80, 95], "quantiles": {"80": [...], "95": [...]}, "scale": {...}}'
    if not isinstance(iv, dict) or set(iv) not in ({"levels", "half_widths"}, {"levels", "quantiles", "scale"}):
        raise bad("'intervals'", f"an object {shape}", iv)
    try:
        levels = check_levels(iv["levels"]) if isinstance(iv["levels"], list) else None
    except ValueError:
        levels = None
    if not levels:
        raise bad("'intervals.levels'", "a list of distinct percentages between 0 and 100", iv["levels"])
    field = "half_widths" if "half_widths" in iv else "quantiles"
    hw = iv[field]
    if not isinstance(hw, dict) or sorted(hw) != sorted(level_key(v) for v in levels):
        raise bad(f"'intervals.{field}'", f"an object with the keys {', '.join(level_key(v) for v in levels)}",
                  hw)
    for key, w in hw.items():
        if not isinstance(w, list) or not w or not all(
                x is None or (_is_finite_number(x) and x >= 0) for x in w):
            raise bad(f"'intervals.{field}.{key}'", "a non-empty list of numbers >= 0 or null", w)
    if field == "quantiles":
        sc = iv["scale"]
        if not isinstance(sc, dict) or not _is_int(sc.get("look_back"), 1) or not (
                _is_finite_number(sc.get("floor")) and sc["floor"] > 0):
            raise bad("'intervals.scale'", 'an object {"look_back": an integer >= 1, "floor": a number > 0}', sc)


def interval_bounds(run: Run, values, history=None) -> dict:
    """The run's conformal intervals around the forecasts ``values`` of :func:`forecast` (step 1,
    2, ...): ``{"80": (lo, hi), ...}`` in original units, or ``{}`` for a run saved without
    intervals. Steps the validation part could not calibrate (too few residuals, or beyond it) get
    ``-inf``/``inf``.

    Parameters
    ----------
    run : Run
        A loaded run.
    values : array_like
        Its forecasts, one per step.
    history : array_like
        The series the forecasts continue (original units): the half-widths are the run's
        quantiles times the scale of its last window
        (:func:`fastrnn.forecast.intervals.window_scale`). Not needed by runs with fixed
        half-widths (written before intervals were normalised).
    """
    iv = run.info.get("intervals")
    if not iv:
        return {}
    v = np.asarray(values, dtype=np.float64)
    if "quantiles" in iv:
        from fastrnn.forecast.intervals import window_scale

        if history is None:
            raise ValueError("interval_bounds needs the history the forecasts continue (history=...)")
        h = np.asarray(history, dtype=np.float64)
        lb = iv["scale"]["look_back"]
        scale = float(window_scale(h, [len(h)], lb, iv["scale"]["floor"])[0]) if len(h) >= lb else math.inf
        table = iv["quantiles"]
    else:
        scale, table = 1.0, iv["half_widths"]
    out = {}
    for key, widths in table.items():
        w = np.full(v.shape, np.inf)
        k = min(len(widths), v.size)
        w[:k] = [np.inf if x is None else float(x) * scale for x in widths[:k]]
        out[key] = (v - w, v + w)
    return out


def load_run(path) -> Run:
    """Load a run folder (or the ``model.npz`` inside one): the model and its preprocessing.

    ``preprocessing.json`` is checked against its schema and against the model (and
    ``metrics.json``, when it is there and readable) before anything is forecast.

    Raises
    ------
    RunError
        ``path`` is not a run folder or its ``model.npz``, or ``preprocessing.json`` is missing,
        not JSON, or has a field of the wrong type or value (the message names the field).
    fastrnn.models.ModelFileError
        ``model.npz`` is damaged or does not match its config.
    """
    from fastrnn.models import load

    p = Path(path)
    if not p.exists():
        raise RunError(f"--model {p} does not exist; pass a run folder written by `fastrnn train` "
                       f"(or its model.npz)")
    if not p.is_dir() and p.name != "model.npz":
        raise RunError(f"--model {p} is not a run folder or its model.npz; pass the folder "
                       f"written by `fastrnn train` (it holds model.npz and preprocessing.json)")
    folder, model_file = (p, p / "model.npz") if p.is_dir() else (p.parent, p)
    info_file = folder / "preprocessing.json"
    if p.is_dir() and not model_file.is_file() and info_file.is_file():
        combined = _load_combination(folder, info_file)
        if combined is not None:
            return combined
    if not model_file.is_file():
        raise RunError(f"{folder} has no model.npz; pass a run folder written by `fastrnn train`")
    if not info_file.is_file():
        raise RunError(f"{folder} has no preprocessing.json next to {model_file.name}; pass a run "
                       f"folder written by `fastrnn train`")
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(f"{info_file} is not a valid preprocessing file ({e}); {_RETRAIN}") from None
    _check_run_info(info, str(info_file))  # before loading the model: e.g. a newer format
    model = load(model_file)
    metrics = None
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass  # predict does not need metrics.json; it only serves as a cross-check
    _check_run_info(info, str(info_file), model, metrics)
    return Run(path=folder, model=model, info=info)


def _load_combination(folder: Path, info_file: Path) -> Run | None:
    """A combination run (``preprocessing.json`` with ``"combine"``), checked as :func:`load_run`
    checks a run, each member's model against the file; ``None`` if the file holds no
    combination (the caller reports what is missing)."""
    from fastrnn.models import load

    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(f"{info_file} is not a valid preprocessing file ({e}); {_RETRAIN}") from None
    if not isinstance(info, dict) or "combine" not in info:
        return None
    _check_run_info(info, str(info_file))
    metrics = None
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    members = {}
    for m in info["combine"]["members"]:
        model = None
        if m["file"] is not None:
            f = folder / m["file"]
            if not f.is_file():
                raise RunError(f"{folder} has no {m['file']} (member {m['name']} of the combination in "
                               f"{info_file.name}); pass a complete run folder written by `fastrnn train`")
            model = load(f)
            _check_run_info(dict(info, ensemble=m["ensemble"]), str(info_file), model, metrics)
        members[m["name"]] = (model, float(m["weight"]))
    return Run(path=folder, model=None, info=info, members=members)


def combination_step(members, tails, scaler, transform: str | None, feats=None) -> np.ndarray:
    """One-step forecasts of a combination from ``m`` histories at once, in original units.

    Every member forecasts the point after each history; the forecast is their weighted sum,
    ``sum_k w_k * member_k(tail)``. Persistence repeats the last value; a model forecasts from the
    tail in the run's representation (``transform``, then ``scaler``), mapped back to original
    units. :func:`forecast` feeds it back one step at a time; the intervals' residuals
    (:func:`fastrnn.forecast.intervals.series_residuals`) run it from every validation origin at once.

    Parameters
    ----------
    members : Mapping[str, tuple]
        Member name -> ``(model or None for persistence, weight)``, as :attr:`Run.members`.
    tails : array_like
        ``(m, look_back + d)``: the last values (original units) before each point forecast, ``d``
        one under a differencing transform, else zero.
    scaler : fitted scaler of the run
    transform : str or None
        The run's transform.
    feats : array_like, optional
        ``(m, look_back, F)``: the calendar inputs of each window, for a run with calendar features.

    Returns
    -------
    np.ndarray
        ``(m,)`` float64.
    """
    from fastrnn.forecast.preprocessing import apply_transform, parse_transform, undo_transform

    tails = np.asarray(tails, dtype=np.float64)
    m = len(tails)
    x = None
    total = np.zeros(m)
    for model, weight in members.values():
        if model is None:
            p = tails[:, -1]
        else:
            if x is None:
                x = scaler.transform(apply_transform(tails, *parse_transform(transform)))[:, :, None]
                if feats is not None:
                    x = np.concatenate([x, np.asarray(feats, dtype=np.float64)], axis=2)
            z = scaler.inverse_transform(predict_mean(model, x).astype(np.float64))
            p = undo_transform(z, np.arange(1, m + 1), tails[:, -1], transform)[:, 0]
        total += weight * p
    return total


def _forecast_combination(run: Run, values, steps: int, feats) -> np.ndarray:
    """Recursive forecasts of a combination (:func:`combination_step`): the actual values, then
    the combination's forecasts, are the history of the next step."""
    from fastrnn.forecast.preprocessing import parse_transform

    need = run.look_back + int(parse_transform(run.transform)[1])
    scaler = scaler_from_dict(run.info["scaler"])
    hist = list(values[-need:])
    out = np.empty(steps)
    for k in range(steps):
        tail = np.asarray(hist[-need:], dtype=np.float64)[None, :]
        f = None if feats is None else feats[None, k:k + run.look_back]
        out[k] = combination_step(run.members, tail, scaler, run.transform, f)[0]
        hist.append(out[k])
    return out


def forecast(run: Run, values, steps: int, dates=None, covariates=None, future=None) -> np.ndarray:
    """Forecast the ``steps`` points after the end of ``values`` recursively (each forecast becomes
    an input of the next), in original units.

    The run's own transform and fitted scaler are used (not refitted on ``values``). The first
    forecast equals the model's one-step-ahead forecast of that point in ``train``'s evaluation.
    A run with calendar features needs ``dates`` (of ``values``); the forecast dates continue them
    as :func:`future_dates` does.

    A run with covariates (:attr:`Run.covariates`, :attr:`Run.past_covariates`) needs
    ``covariates``: name -> values aligned with ``values`` (a Dataset's ``covariates``; only the
    last ``look_back`` are read), and for those known in advance ``future``: name -> their values
    at the ``steps`` points forecast (at least ``steps`` of them; more are ignored). Past
    covariates are known only up to the present, so such a run forecasts one step only.

    Raises
    ------
    fastrnn.forecast.datasets.DataError
        A series too short or not finite at its end, missing dates for calendar features, missing,
        short or non-finite covariates or future values, or ``steps > 1`` with past covariates.
    """
    from fastrnn.forecast.datasets import DataError
    from fastrnn.forecast.preprocessing import apply_transform, calendar_features, parse_transform

    check_steps(steps, dates)
    values = np.asarray(values, dtype=np.float64)
    use_log, use_diff = parse_transform(run.transform)
    L = run.look_back
    need = L + int(use_diff)
    if len(values) < need:
        raise DataError(f"the series has {len(values)} points, but this model needs the last {need} "
                        f"(look_back {L}{' plus one for diff' if use_diff else ''}); use a longer series")
    if not np.isfinite(values[-need:]).all():
        raise DataError("the last values of the series are missing or infinite; clean the data first")
    feats = None
    if run.calendar:
        if dates is None:
            raise DataError("this run uses calendar features, which need the dates of the series, "
                            "but it has none; pass a series with a date column")
        if len(dates) != len(values):
            raise ValueError(f"dates ({len(dates)}) and values ({len(values)}) differ in length")
        # Step j of the window for point t carries the date of point t - L + 1 + j.
        ahead = future_dates(dates, steps)
        if ahead is None:
            raise DataError("cannot continue the dates of the series (fewer than two); pass a "
                            "longer series")
        feats = calendar_features(dates[len(dates) - L + 1:].append(ahead) if L > 1 else ahead)
    if run.members is not None:
        return _forecast_combination(run, values, steps, feats)
    cov = _covariate_steps(run, len(values), steps, covariates, future)
    tail = values[-need:]
    rep = apply_transform(tail, use_log, use_diff)  # exactly L points
    scaler = scaler_from_dict(run.info["scaler"])
    window = list(scaler.transform(rep))
    out_scaled = np.empty(steps)
    for k in range(steps):
        x = np.asarray(window[-L:], dtype=np.float64).reshape(1, L, 1)
        if feats is not None:
            x = np.concatenate([x, feats[None, k:k + L]], axis=2)
        if cov is not None:
            x = np.concatenate([x, cov[k:k + 1]], axis=2)
        out_scaled[k] = float(predict_mean(run.model, x)[0, 0])
        window.append(out_scaled[k])
    z = scaler.inverse_transform(out_scaled)
    if use_diff:
        last = np.log(values[-1]) if use_log else values[-1]
        z = last + np.cumsum(z)
    return np.exp(z) if use_log else z


def _covariate_steps(run: Run, n: int, steps: int, covariates, future):
    """The covariate inputs of the windows of the ``steps`` forecasts after ``n`` points, scaled as in
    training, ``(steps, look_back, C + P)``; ``None`` for a run without covariates. See
    :func:`forecast` (arguments) and :mod:`fastrnn.forecast.covariates` (the layout)."""
    from fastrnn.forecast.covariates import CovariateScaler, window_inputs
    from fastrnn.forecast.datasets import DataError

    known, past = run.covariates, run.past_covariates
    if not known and not past:
        if future:
            raise DataError(f"future values were given ({', '.join(future)}), but this run uses no covariates "
                            f"known in advance; leave them out")
        return None
    if past and steps > 1:
        raise DataError(f"this run uses past covariates ({', '.join(past)}), known only up to the present, so it "
                        f"forecasts one step ahead only; ask for steps=1")
    L = run.look_back
    covariates = covariates or {}
    missing = [c for c in known + past if c not in covariates]
    if missing:
        raise DataError(f"this run uses the covariates {', '.join(known + past)}, but their values over the "
                        f"series are missing ({', '.join(missing)}); pass covariates={{name: values}} aligned "
                        f"with the series (a Dataset's .covariates)")
    hist = {}
    for c in known + past:
        v = np.asarray(covariates[c], dtype=np.float64)
        if v.shape != (n,):
            raise DataError(f"covariate {c!r} has shape {v.shape}, but the series has {n} points; give one value "
                            f"per point")
        if not np.isfinite(v[-L:]).all():
            raise DataError(f"covariate {c!r} is missing or infinite in the last {L} points of the series (the "
                            f"look-back); clean the data first")
        hist[c] = v[-L:]
    fut = {}
    if known:
        future = future or {}
        absent = [c for c in known if c not in future]
        if absent:
            raise DataError(f"this run uses covariates known in advance ({', '.join(known)}); pass their values at "
                            f"the next {steps} points with future={{name: values}} (missing: {', '.join(absent)})")
        for c in known:
            v = np.asarray(future[c], dtype=np.float64).ravel()
            if len(v) < steps:
                raise DataError(f"future values of {c!r}: {len(v)} given, but {steps} steps are forecast; give "
                                f"one per step")
            bad = np.flatnonzero(~np.isfinite(v[:steps]))
            if bad.size:
                raise DataError(f"future values of {c!r} are missing or infinite at step {int(bad[0]) + 1}; give "
                                f"a number for every step")
            fut[c] = v[:steps]
    # points n - L .. n + steps - 1, as local indices 0 .. L + steps - 1
    cols = [np.concatenate([hist[c], fut[c]]) for c in known] + [np.concatenate([hist[c], np.zeros(steps)])
                                                                 for c in past]
    scaler = CovariateScaler.from_dict(run.info["covariates"]["scaler"])
    z = scaler.transform(np.column_stack(cols))
    k = len(known)
    return window_inputs(z[:, :k] if k else None, z[:L, k:] if past else None, L + np.arange(steps), L)


def _continuation(dates):
    """How :func:`future_dates` continues ``dates`` (two or more): a function ``k -> the k-th date
    after the last`` (O(1) for any ``k``), and ``build(steps)`` giving all of them at once."""
    import pandas as pd

    last = dates[-1]
    tail = dates[-min(len(dates), 60):]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3: "infer_freq will return an offset" chatter
        freq = pd.infer_freq(tail) if len(tail) >= 3 else None
    if freq is not None:
        offset = pd.tseries.frequencies.to_offset(freq)
        return (lambda k: last + k * offset,
                lambda steps: pd.date_range(last, periods=steps + 1, freq=freq)[1:])
    step = pd.Series(tail).diff().dropna().median()
    if step == pd.Timedelta(days=1) and (tail.day_of_week < 5).all():
        return (lambda k: last + pd.offsets.BDay(k),
                lambda steps: pd.bdate_range(last, periods=steps + 1)[1:])
    if step >= pd.Timedelta(days=28) and step <= pd.Timedelta(days=31):
        return (lambda k: last + pd.DateOffset(months=k),
                lambda steps: pd.DatetimeIndex([last + pd.DateOffset(months=k)
                                                for k in range(1, steps + 1)]))
    return (lambda k: last + step * k,
            lambda steps: pd.DatetimeIndex([last + step * k for k in range(1, steps + 1)]))


def _last_date(dates):
    """The last date a forecast may reach: pandas' limit for the index's resolution, and at most
    9999-12-31 (Python's datetime, which prints the dates)."""
    import pandas as pd

    limit = pd.Timestamp("9999-12-31 23:59:59")
    return pd.Timestamp.max if getattr(dates, "unit", "ns") == "ns" else limit


def max_steps(dates) -> int | None:
    """The largest number of steps :func:`future_dates` can continue ``dates`` by: the dates must
    stay representable (:func:`_last_date`). ``None`` when there is no limit (no dates).

    Found by bisection on the k-th future date, computed directly (never by building the dates).
    """
    from fastrnn.forecast.preprocessing import bisect_first

    if dates is None or len(dates) < 2:
        return None
    nth, _ = _continuation(dates)
    limit = _last_date(dates)

    def past(k):
        try:
            return nth(k) > limit
        except (OverflowError, ValueError, ArithmeticError):  # OutOfBoundsDatetime is a ValueError
            return True

    hi = 1
    while not past(hi):
        hi *= 2
    return bisect_first(past, 1, hi) - 1


def check_steps(steps: int, dates=None, option: str = "steps") -> None:
    """Refuse a number of forecast steps that cannot be done: not a positive integer, past the last
    date that can be represented after ``dates`` (:func:`max_steps`), or more than memory holds.

    Raises ValueError (:class:`fastrnn.forecast.datasets.DataError` for the dates) naming ``option`` (the
    CLI passes ``"--steps"``) and the largest number of steps possible.
    """
    from fastrnn import _memory
    from fastrnn.forecast.datasets import DataError

    check_positive_int(option, steps)
    most = max_steps(dates)
    if most is not None and steps > most:
        end = dates[-1]
        end = end.date() if end == end.normalize() else end.isoformat()
        raise DataError(f"{option} {steps} would forecast past {_last_date(dates).date()}, the last "
                        f"date that can be represented; the largest {option} possible after {end} "
                        f"is {most}")
    need = 64 * steps  # the forecasts, their window and the scaled copies
    if not _memory.fits(need):
        raise ValueError(f"{option} {steps} needs about {_memory.format_bytes(need)} of memory, "
                         f"but only {_memory.format_bytes(_memory.available_bytes())} are "
                         f"available; forecast fewer steps")


def future_dates(dates, steps: int):
    """The ``steps`` dates after ``dates`` (a DatetimeIndex), continuing its frequency; ``None``
    without dates. Business-daily series continue on weekdays; otherwise the median spacing.

    Raises :class:`fastrnn.forecast.datasets.DataError` if they would pass the last representable date
    (:func:`check_steps`, :func:`max_steps`).
    """
    if dates is None or len(dates) < 2:
        return None
    check_steps(steps, dates)
    return _continuation(dates)[1](steps)
