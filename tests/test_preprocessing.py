"""Windows, chronological split, scaling, transforms and their inverses."""

import numpy as np
import pandas as pd
import pytest

from fastrnn.forecast.datasets import DataError, load
from fastrnn.forecast.preprocessing import (
    MinMaxScaler, StandardScaler, make_windows, prepare, split,
)


# ---------------------------------------------------------------------------
# make_windows
# ---------------------------------------------------------------------------


def test_windows_by_hand():
    X, y = make_windows([10, 11, 12, 13, 14, 15], look_back=2)
    assert X.tolist() == [[10, 11], [11, 12], [12, 13], [13, 14]]
    assert y.tolist() == [12, 13, 14, 15]
    assert X.dtype == y.dtype == np.float64


def test_windows_horizon():
    X, y = make_windows(np.arange(6), look_back=3, horizon=2)
    assert X.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert y.tolist() == [[3, 4], [4, 5]]


def test_windows_too_short():
    make_windows([1, 2, 3], look_back=2)  # exactly one window
    with pytest.raises(DataError, match="needs at least 4 points, got 3"):
        make_windows([1, 2, 3], look_back=2, horizon=2)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_windows_bad_look_back(bad):
    with pytest.raises(ValueError, match="look_back must be an integer >= 1"):
        make_windows(np.arange(10), look_back=bad)


# ---------------------------------------------------------------------------
# split
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n, test_start", [(144, 96), (3650, 2445), (1980, 1326), (10, 6)])
def test_split_matches_int_067(n, test_start):
    sp = split(n)
    assert sp.test_start == test_start == int(n * 0.67)
    assert sp.train_end == test_start and sp.n_val == 0 and sp.n_test == n - test_start


def test_split_validation_from_end_of_train():
    sp = split(144, test_fraction=0.33, val_fraction=0.1)
    assert (sp.train_end, sp.test_start, sp.n) == (87, 96, 144)  # 9 = int(96 * 0.1)
    assert sp.bounds("train") == (0, 87) and sp.bounds("val") == (87, 96)
    assert sp.bounds("test") == (96, 144)


def test_split_bad_fractions():
    with pytest.raises(ValueError, match="test_fraction"):
        split(10, test_fraction=0)
    with pytest.raises(ValueError, match="val_fraction"):
        split(10, val_fraction=1)


# ---------------------------------------------------------------------------
# prepare
# ---------------------------------------------------------------------------

TOY = np.arange(1.0, 21.0) ** 1.5  # 20 increasing points


def test_prepare_toy_layout():
    p = prepare(TOY, look_back=3, scaler=None, test_fraction=0.25, val_fraction=0.2)
    # test_start = int(20 * 0.75) = 15; 3 validation points = int(15 * 0.2)
    assert (p.split.train_end, p.split.test_start) == (12, 15)
    assert p.starts["train"].tolist() == list(range(3, 12))
    assert p.starts["val"].tolist() == [12, 13, 14]
    assert p.starts["test"].tolist() == [15, 16, 17, 18, 19]  # exactly the test points
    assert p.X_train.shape == (9, 3, 1) and p.y_train.shape == (9, 1)
    assert p.X_val.shape == (3, 3, 1) and p.X_test.shape == (5, 3, 1)
    # the first test window's inputs are the last three points before the test part
    assert p.X_test[0, :, 0].tolist() == TOY[12:15].tolist()
    assert p.y_test[:, 0].tolist() == TOY[15:].tolist()
    assert p.targets("test")[:, 0].tolist() == TOY[15:].tolist()
    assert p.y_test_original.shape == (5, 1)
    assert p.X_train[0, :, 0].tolist() == TOY[0:3].tolist() and p.y_train[0, 0] == TOY[3]
    assert p.target_dates("test") is None


def test_prepare_without_validation():
    p = prepare(TOY, look_back=3, val_fraction=0)
    assert p.X_val.shape == (0, 3, 1) and p.y_val.shape == (0, 1)
    assert p.split.train_end == p.split.test_start == int(20 * 0.67)


def test_prepare_horizon_drops_straddling_windows():
    p = prepare(TOY, look_back=2, horizon=3, scaler=None, test_fraction=0.25, val_fraction=0.2)
    # train targets must all be < 12; val ones in [12, 15); test ones in [15, 20)
    assert p.starts["train"].tolist() == list(range(2, 10))
    assert p.starts["val"].tolist() == [12]
    assert p.starts["test"].tolist() == [15, 16, 17]
    assert p.y_test.tolist() == [TOY[15:18].tolist(), TOY[16:19].tolist(), TOY[17:20].tolist()]


def test_minmax_scaler_fitted_on_train_only():
    p = prepare(TOY, look_back=3, scaler="minmax", test_fraction=0.25, val_fraction=0.2)
    train = TOY[:12]
    assert p.scaler.min_ == train.min() and p.scaler.scale_ == train.max() - train.min()
    assert p.X_train.min() == 0 and p.y_train.max() == 1  # training part spans [0, 1]
    assert p.y_test.min() > 1  # later (larger) points fall outside [0, 1]
    # changing validation/test values does not change the training arrays
    other = TOY.copy()
    other[12:] *= 100
    q = prepare(other, look_back=3, scaler="minmax", test_fraction=0.25, val_fraction=0.2)
    assert np.array_equal(q.X_train, p.X_train) and np.array_equal(q.y_train, p.y_train)


def test_standard_scaler_fitted_on_train_only():
    p = prepare(TOY, look_back=3, scaler="standard", test_fraction=0.25, val_fraction=0.2)
    train = TOY[:12]
    assert np.isclose(p.scaler.mean_, train.mean()) and np.isclose(p.scaler.scale_, train.std())
    assert np.isclose(p.scaler.transform(train).mean(), 0, atol=1e-12)


def test_diff_scaler_fitted_on_train_differences():
    p = prepare(TOY, look_back=3, scaler="minmax", transform="diff", test_fraction=0.25,
                val_fraction=0.2)
    d = np.diff(TOY)[:11]  # differences belonging to points 1 .. 11
    assert p.scaler.min_ == d.min() and p.scaler.scale_ == d.max() - d.min()
    assert p.starts["train"][0] == 4  # point 0 has no difference


def test_scalers_constant_input():
    for sc in (MinMaxScaler(), StandardScaler()):
        sc.fit(np.full(5, 3.0))
        assert np.array_equal(sc.inverse_transform(sc.transform([3.0, 4.0])), [3.0, 4.0])


@pytest.mark.parametrize("scaler", ["minmax", "standard", None])
@pytest.mark.parametrize("transform", [None, "log", "diff", "log+diff"])
@pytest.mark.parametrize("horizon", [1, 3])
def test_inverse_round_trip(scaler, transform, horizon):
    ds = load("airline")
    p = prepare(ds, look_back=12, horizon=horizon, scaler=scaler, transform=transform)
    for which in ("train", "val", "test"):
        y = getattr(p, f"y_{which}")
        back = p.inverse(y, which)
        assert back.shape == (len(y), horizon)
        np.testing.assert_allclose(back, p.targets(which), rtol=1e-12, atol=0)


def test_inverse_diff_uses_previous_actual_value():
    p = prepare(TOY, look_back=2, scaler=None, transform="diff", test_fraction=0.25,
                val_fraction=0)
    # predicting a zero difference is persistence
    assert p.inverse(np.zeros(5), "test")[:, 0].tolist() == TOY[14:19].tolist()


def test_inverse_log_is_exp():
    p = prepare(TOY, look_back=2, scaler=None, transform="log", val_fraction=0)
    np.testing.assert_allclose(p.inverse(np.log([[2.0]] * len(p.y_test)))[:, 0], 2.0)


def test_inverse_shape_check():
    p = prepare(TOY, look_back=3, val_fraction=0)
    p.inverse(p.y_test[:, 0])  # (N,) accepted for horizon 1
    with pytest.raises(ValueError, match=r"must have shape \(7, 1\)"):
        p.inverse(np.zeros(6))
    with pytest.raises(ValueError, match="which must be"):
        p.inverse(p.y_test, "valid")


def test_prepare_dates_and_season_from_dataset():
    p = prepare(load("airline"), look_back=12)
    assert p.season == 12
    assert p.target_dates("test")[0] == pd.Timestamp("1957-01-01")  # point 96
    assert len(p.target_dates("test")) == 48


def test_prepare_from_pandas_series():
    s = pd.Series(TOY, index=pd.date_range("2000-01-01", periods=20, freq="D"))
    p = prepare(s, look_back=3, val_fraction=0)
    assert p.target_dates("test")[0] == s.index[int(20 * 0.67)]


def test_log_needs_positive_values():
    v = TOY.copy()
    v[7] = -1.0
    with pytest.raises(DataError, match=r"log transform needs positive values.*-1 at index 7"):
        prepare(v, look_back=2, transform="log")
    s = pd.Series(v, index=pd.date_range("2000-01-01", periods=20))
    with pytest.raises(DataError, match=r"at date 2000-01-08"):
        prepare(s, look_back=2, transform="log+diff")


def test_non_finite_values():
    v = TOY.copy()
    v[4] = np.nan
    with pytest.raises(DataError, match="missing or infinite value.*index 4"):
        prepare(v, look_back=2)


@pytest.mark.parametrize("look_back, transform, val_fraction", [
    (3, None, 0.1), (10, "diff", 0.1), (30, None, 0.0), (2, "log+diff", 0.3),
])
def test_too_short_says_how_many_points(look_back, transform, val_fraction):
    with pytest.raises(DataError, match=r"series too short.*needs at least (\d+) points.*got 5") \
            as exc:
        prepare(np.arange(1.0, 6.0), look_back=look_back, transform=transform,
                val_fraction=val_fraction)
    need = int(exc.value.args[0].split("needs at least ")[1].split()[0])
    series = np.arange(1.0, need + 1.0)
    p = prepare(series, look_back=look_back, transform=transform, val_fraction=val_fraction)
    assert len(p.y_train) >= 1 and len(p.y_test) >= 1
    assert len(p.y_val) >= (1 if val_fraction else 0)
    with pytest.raises(DataError, match="series too short"):
        prepare(series[:-1], look_back=look_back, transform=transform, val_fraction=val_fraction)


def test_unknown_options():
    with pytest.raises(ValueError, match="unknown scaler 'robust'"):
        prepare(TOY, look_back=2, scaler="robust")
    with pytest.raises(ValueError, match="unknown transform 'sqrt'"):
        prepare(TOY, look_back=2, transform="sqrt")
    assert prepare(TOY, look_back=2, scaler="none", transform="none").transform is None
