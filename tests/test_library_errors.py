"""Library errors (issue 10): Trainer.fit checks y and validation_data, the package exports its
exceptions, and ints, lists and pandas objects as X / y either work or get one clear ValueError.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import fastrnn as fr


def _data(B=12, T=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, T)), rng.standard_normal(B)


def _fit(X, y, **kw):
    model = fr.LSTM(1, 3, seed=0)
    tr = fr.Trainer(model, optimizer=fr.optim.Adam(model.parameters(), lr=1e-2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NonFiniteLossWarning, no cast warnings
        hist = tr.fit(X, y, epochs=2, batch_size=4, shuffle=False, verbose=0, **kw)
    return model, hist


def test_exceptions_are_exported_from_the_package():
    from fastrnn.datasets import DataError  # the documented path (an alias of fastrnn.forecast.datasets)
    from fastrnn.forecast import RunError
    from fastrnn.models import ModelFileError
    from fastrnn.trainer import NonFiniteLossWarning

    assert fr.ModelFileError is ModelFileError and fr.DataError is DataError
    assert fr.RunError is RunError and fr.NonFiniteLossWarning is NonFiniteLossWarning
    for name in ("ModelFileError", "DataError", "RunError", "NonFiniteLossWarning"):
        assert name in fr.__all__
    assert all(issubclass(e, ValueError) for e in (fr.ModelFileError, fr.DataError, fr.RunError))


@pytest.mark.parametrize("bad, pattern", [
    (np.nan, r"y must be finite, but 1 sample\(s\) have NaN or infinite targets .*first at index 3"),
    (np.inf, r"y must be finite.*index 3"),
    (1e39, r"y must be finite.*\(in float32\)"),  # finite in float64, infinite in the model's dtype
])
def test_fit_refuses_non_finite_targets(bad, pattern):
    X, y = _data()
    y[3] = bad
    with pytest.raises(ValueError, match=pattern):
        _fit(X, y)


@pytest.mark.parametrize("y, pattern", [
    (np.zeros(11), "X and y must have the same number of samples; got 12 and 11"),
    (np.zeros((12, 2)), r"y must have shape \(12, 1\) or \(12,\) for this model .*got \(12, 2\)"),
    (np.array(3.0), r"y must have one target per sample of X \(12\); got a scalar"),
    (np.array(["1"] * 12), "y must hold numbers .*got dtype <U1"),
    (np.array([1.0] * 12, dtype=object), "y must hold numbers .*got dtype object"),
    (np.ones(12) + 1j, "y must hold numbers .*not complex.*complex128"),
    ([[1.0], [2.0, 3.0]] + [[0.0]] * 10, "y must be a rectangular array"),
])
def test_fit_refuses_bad_targets_saying_what_was_expected(y, pattern):
    X, _ = _data()
    with pytest.raises(ValueError, match=pattern):
        _fit(X, y)


@pytest.mark.parametrize("vd, pattern", [
    ("X", "validation_data must be a tuple \\(X_val, y_val\\); got str"),
    (np.zeros((4, 5)), "validation_data must be a tuple .*got ndarray"),
    ((np.zeros((4, 5)),), "got a tuple of length 1"),
    ((np.zeros((4, 5)), np.zeros(4), np.zeros(4)), "got a tuple of length 3"),
    ((np.zeros((4, 5)), np.zeros(3)),
     "validation_data: X_val and y_val must have the same number of samples; got 4 and 3"),
    ((np.zeros((4, 5)), np.full(4, np.nan)), "validation_data: y_val must be finite"),
])
def test_fit_checks_validation_data(vd, pattern):
    X, y = _data()
    with pytest.raises(ValueError, match=pattern):
        _fit(X, y, validation_data=vd)


def test_validation_data_as_a_list_of_two_works():
    X, y = _data()
    _, hist = _fit(X, y, validation_data=[X[:4], y[:4]])
    assert len(hist.val_loss) == 2


def test_ints_lists_and_pandas_train_exactly_like_the_float_array():
    """Converted to the model's dtype: the same weights as the float32 array gives."""
    rng = np.random.default_rng(0)
    Xi = rng.integers(-3, 4, size=(12, 5))
    yi = rng.integers(-2, 3, size=12)
    ref, _ = _fit(Xi.astype(np.float32), yi.astype(np.float32))
    for X, y in [(Xi, yi),  # int arrays
                 (Xi.tolist(), yi.tolist()),  # lists of lists
                 (pd.DataFrame(Xi), pd.Series(yi)),  # a (B, T) DataFrame and a Series
                 (Xi.astype(np.float64), pd.DataFrame({"y": yi}))]:  # a (B, 1) DataFrame y
        m, _ = _fit(X, y)
        for k, v in ref.parameters().items():
            np.testing.assert_array_equal(m.parameters()[k], v, err_msg=f"{type(X).__name__}: {k}")
        np.testing.assert_array_equal(m.predict(X), ref.predict(Xi.astype(np.float32)))


@pytest.mark.parametrize("X, pattern", [
    (np.zeros(5),
     r"x must have shape \(B, T, I\) or \(B, T\).*got \(5,\); for one sequence of T steps use x.reshape\(1, T\)"),
    (pd.Series(np.zeros(12)), r"x must have shape .*got \(12,\)"),
    (np.array([["a"] * 5] * 12), "x must hold real numbers; got dtype <U1"),
    (np.zeros((12, 5), dtype=object), "x must hold real numbers; got dtype object"),
    (pd.DataFrame({"a": ["x"] * 12, "b": [1.0] * 12}), "x must hold real numbers; got dtype object"),
    ([[1.0, 2.0], [3.0]], "x must be a rectangular array"),
])
def test_unusable_inputs_get_one_clear_error(X, pattern):
    _, y = _data()
    with pytest.raises(ValueError, match=pattern):
        _fit(X, y)
    with pytest.raises(ValueError, match=pattern):
        fr.LSTM(1, 3, seed=0).predict(X)


def test_evaluate_and_fit_stateful_check_their_arguments():
    X, y = _data()
    tr = fr.Trainer(fr.LSTM(1, 3, seed=0))
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        tr.evaluate(X, y, batch_size=0)
    with pytest.raises(ValueError, match="y must be finite"):
        tr.evaluate(X, np.full(12, np.nan))
    seq = fr.Trainer(fr.GRU(1, 3, return_sequences=True, seed=0))
    series = np.sin(np.arange(40.0))
    with pytest.raises(ValueError, match="epochs must be a positive integer; got 0"):
        seq.fit_stateful(series[:-1], series[1:], k=5, epochs=0, verbose=0)
    bad = series[1:].copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="y must be finite"):
        seq.fit_stateful(series[:-1], bad, k=5, epochs=1, verbose=0)


def test_settings_of_the_wrong_type_are_value_errors():
    from fastrnn.models import parameter_shapes

    m = fr.GRU(1, 2)
    with pytest.raises(ValueError, match="kind must be one of"):
        parameter_shapes("foo", 1, 2)
    with pytest.raises(ValueError, match="clip_norm must be a positive number"):
        fr.Trainer(m, clip_norm="a")
    with pytest.raises(ValueError, match="clip_value must be a positive number"):
        fr.Trainer(m, clip_value=True)
    with pytest.raises(ValueError, match="min_delta must be a non-negative number"):
        fr.EarlyStopping(min_delta="a")


def test_fit_stateful_refuses_early_stopping():
    m = fr.GRU(1, 2, return_sequences=True)
    series = np.sin(np.arange(30.0))
    with pytest.raises(ValueError, match="EarlyStopping cannot work there"):
        fr.Trainer(m).fit_stateful(series[:-1], series[1:], k=5, epochs=3, verbose=0,
                                   callbacks=[fr.EarlyStopping(patience=1)])
