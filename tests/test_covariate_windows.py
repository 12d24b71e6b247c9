"""The covariate inputs of windows (fastrnn.forecast.covariates), against the plain loop of its
docstring and against values written out by hand."""

import numpy as np
import pytest

from fastrnn.forecast import covariates as cv


def _loop(known, past, starts, look_back, lead):
    rows = []
    for t in starts:
        steps = []
        for j in range(look_back):
            s = t - look_back + j
            k = [] if known is None else list(known[s + 1:s + 1 + lead].T.ravel())
            p = [] if past is None else list(past[s])
            steps.append(k + p)
        rows.append(steps)
    return np.array(rows, dtype=np.float64)


@pytest.mark.parametrize("lead", [1, 3])
@pytest.mark.parametrize("kinds", ["known", "past", "both"])
def test_window_inputs_equal_the_loop(lead, kinds):
    rng = np.random.default_rng(0)
    n, L = 20, 4
    known = rng.normal(size=(n, 2)) if kinds != "past" else None
    past = rng.normal(size=(n, 3)) if kinds != "known" else None
    starts = np.arange(L, n - lead + 1)
    got = cv.window_inputs(known, past, starts, L, lead)
    want = _loop(known, past, starts, L, lead)
    assert got.shape == (len(starts), L, cv.n_inputs(0 if known is None else 2, 0 if past is None else 3, lead))
    np.testing.assert_array_equal(got, want)


def test_known_covariates_lead_the_step_and_past_ones_do_not():
    # the value of each covariate at point i is i (known) and 100 + i (past)
    n = 10
    known = np.arange(n, dtype=float)[:, None]
    past = 100 + np.arange(n, dtype=float)[:, None]
    out = cv.window_inputs(known, past, np.array([5]), look_back=3, lead=2)
    # target starts at 5: input steps at points 2, 3, 4; known values at s+1, s+2; past at s
    assert out.tolist() == [[[3, 4, 102], [4, 5, 103], [5, 6, 104]]]


def test_known_covariates_beyond_the_data_are_refused():
    known = np.zeros((6, 1))
    with pytest.raises(ValueError, match="append their future values"):
        cv.window_inputs(known, None, np.array([6]), look_back=3, lead=1)


def test_names():
    assert cv.parse_names(" price, holiday ") == ("price", "holiday")
    assert cv.parse_names(None) == ()
    with pytest.raises(ValueError, match="more than once"):
        cv.parse_names("a,b,a", "--covariates")
    with pytest.raises(ValueError, match="column names separated by commas"):
        cv.parse_names("a,,b", "--covariates")
    with pytest.raises(ValueError, match="'p' is not in the data; its columns are y, ds, q"):
        cv.check_names(("p",), (), ["y", "ds", "q"])
    with pytest.raises(ValueError, match="as covariate known in advance and as past covariate"):
        cv.check_names(("q",), ("q",), ["y", "ds", "q"])
    with pytest.raises(ValueError, match="'y' is the value column"):
        cv.check_names(("y",), (), ["y", "ds", "q"], {"the value column": "y"})


def test_scaler_standardises_on_the_fitted_part_and_centres_constants():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    sc = cv.CovariateScaler.fit(x)
    np.testing.assert_array_equal(sc.transform(x), [[-1.0, 0.0], [1.0, 0.0]])
    back = cv.CovariateScaler.from_dict(sc.to_dict())
    np.testing.assert_array_equal(back.transform([[2.0, 6.0]]), [[0.0, 1.0]])
