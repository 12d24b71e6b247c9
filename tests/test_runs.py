"""Runs are never lost, never clobbered (issue 10): atomic default run folders under concurrency,
``predict --output`` without ``--force``, SIGINT/SIGTERM/SIGHUP clean-up and exit status, member
checkpoints and ``--resume`` with a bitwise-equal result, the divergence warning.

Concurrency, signals and resume run the real CLI in subprocesses (``python -m fastrnn.cli``); the
models are tiny, and no assertion depends on timing: the tests wait for files to appear.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fastrnn import forecast as fc
from fastrnn.cli import main
from fastrnn.forecast import job
from fastrnn.forecast.checkpoints import save_member
from fastrnn.trainer import History

TINY = ["--hidden", "4", "--no-plot", "--ensemble", "1"]
TIMINGS = ("train_seconds", "seconds_per_epoch", "created", "baseline_seconds")
POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def cli(*args):
    return [sys.executable, "-m", "fastrnn.cli", *map(str, args)]


def _default_signals():
    """In the child, before it runs: the signal dispositions of a command typed at a terminal.
    A test runner started in the background (CI, ``nohup``) passes SIGINT or SIGHUP on as ignored,
    and fastrnn rightly leaves ignored signals ignored, so the signal tests would test nothing."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def start(tmp_path, *args, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if os.name == "posix":
        kw.setdefault("preexec_fn", _default_signals)
    return subprocess.Popen(cli(*args), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def wait_for(predicate, proc, what, limit=300.0):
    """Poll until ``predicate()`` is true; fail if the process ends first (the limit only guards
    against a hang: it is no timing assertion)."""
    t_end = time.monotonic() + limit
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (status {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > t_end:
            proc.kill()
            pytest.fail(f"no {what} after {limit} s")
        time.sleep(0.02)


def staging_folders(folder: Path):
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and ".tmp-" in p.name) \
        if folder.is_dir() else []


def npz_arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def assert_same_run(a: Path, b: Path):
    """Bitwise-equal model.npz arrays, equal metrics (but the timings), equal preprocessing."""
    wa, wb = npz_arrays(a / "model.npz"), npz_arrays(b / "model.npz")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].dtype == wb[k].dtype and np.array_equal(wa[k], wb[k]), k
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (a, b))
    for m in (ma, mb):
        for k in TIMINGS:
            m.pop(k)
    assert ma == mb
    assert (a / "preprocessing.json").read_text() == (b / "preprocessing.json").read_text()


# --- 1. default run folders: unique by construction --------------------------------------------

_DRIVER = """
import datetime as _dt, sys, time
from pathlib import Path
from fastrnn.cli import main
from fastrnn.forecast import runs
from fastrnn.trainer import History

class Frozen(_dt.datetime):  # every process gets the same time stamp
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 11, 23, 17, 45, 1)

runs.datetime = Frozen  # the run folder names are stamped in fastrnn.forecast.runs
Path(sys.argv[1]).write_text("ready")
while not Path("go").exists():
    time.sleep(0.005)
main(["train", "--epochs", "1", "--hidden", "4", "--no-plot", "--ensemble", "1"])
"""


def test_concurrent_default_runs_get_distinct_complete_folders(tmp_path):
    n = 4
    procs = [subprocess.Popen([sys.executable, "-c", _DRIVER, f"ready-{i}"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(n)]
    for i, p in enumerate(procs):
        wait_for(lambda i=i: (tmp_path / f"ready-{i}").exists(), p, "the driver was ready")
    (tmp_path / "go").write_text("")  # all start together, with the same time stamp
    results = [p.communicate() + (p.returncode,) for p in procs]
    for _out, err, rc in results:
        assert rc == 0, err
    runs = sorted(os.listdir(tmp_path / "runs"))
    base = "airline-lstm-20261123-174501"
    assert runs == sorted([base] + [f"{base}-{k}" for k in range(2, n + 1)])
    for r in runs:
        assert sorted(os.listdir(tmp_path / "runs" / r)) == ["metrics.json", "model.npz",
                                                            "preprocessing.json"]
        fc.load_run(tmp_path / "runs" / r)
    saved = sorted(line.split()[1].rstrip("/") for out, _, _ in results
                   for line in out.splitlines() if line.startswith("Saved "))
    assert saved == sorted(f"runs/{r}" for r in runs)  # each process names its own folder


def test_a_reserved_default_name_is_taken_and_released(tmp_path):
    from datetime import datetime

    now = datetime(2026, 11, 23, 17, 45, 1)
    a = fc.Staging.fresh("airline", "lstm", tmp_path / "runs", now)
    b = fc.Staging.fresh("airline", "lstm", tmp_path / "runs", now)
    assert (a.final.name, b.final.name) == ("airline-lstm-20261123-174501",
                                           "airline-lstm-20261123-174501-2")
    assert a.final.is_dir() and os.listdir(a.final) == []  # reserved: visible, empty
    (a.path / "model.npz").write_bytes(b"x")
    assert a.commit() == a.final and os.listdir(a.final) == ["model.npz"]
    b.discard()  # releases the reservation, and "runs" stays (a's run is in it)
    assert os.listdir(tmp_path / "runs") == ["airline-lstm-20261123-174501"]


# --- 2. predict --output never clobbers without --force ----------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    res = fc.train(fc.make_config(epochs=1, hidden=4, ensemble=1))
    fc.write_run(res, out, plot=False)
    return out


def test_predict_output_refuses_an_existing_file_unless_forced(tiny_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("next.csv").write_text("mine\n")
    runner = CliRunner()
    r = runner.invoke(main, ["predict", "--model", str(tiny_run), "--steps", "2",
                             "--output", "next.csv"])
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        "Error: --output next.csv exists; pass --force to overwrite it or choose another name"]
    assert Path("next.csv").read_text() == "mine\n" and os.listdir() == ["next.csv"]
    r = runner.invoke(main, ["predict", "--model", str(tiny_run), "--steps", "2",
                             "--output", "next.csv", "--force"])
    assert r.exit_code == 0, r.output
    assert Path("next.csv").read_text().splitlines()[0] == "date,forecast"
    assert os.listdir() == ["next.csv"]  # no temporary file left


def test_write_csv_does_not_clobber_a_file_that_appears_meanwhile(tmp_path):
    import click

    from fastrnn.cli.forecast import _write_csv

    target = tmp_path / "next.csv"
    target.write_text("mine\n")  # as if it appeared after predict's first check
    with pytest.raises(click.ClickException, match="exists; pass --force"):
        _write_csv(target, [1.0], None)
    assert target.read_text() == "mine\n" and os.listdir(tmp_path) == ["next.csv"]


# --- 3. signals clean up and give 128 + N ------------------------------------------------------


@POSIX
@pytest.mark.parametrize("sig, code, name", [(signal.SIGINT, 130, "Ctrl-C"),
                                             (signal.SIGTERM, 143, "SIGTERM"),
                                             (signal.SIGHUP, 129, "SIGHUP")])
def test_a_signal_during_training_leaves_nothing(tmp_path, sig, code, name):
    proc = start(tmp_path, "train", *TINY, "--epochs", "100000", "--patience", "0")
    runs = tmp_path / "runs"
    # The header line is printed once the run folder is reserved and its state stored.
    wait_for(lambda: any((p / "resume.json").is_file() for p in staging_folders(runs)), proc,
             "the staging folder was made")
    assert proc.stdout.readline().startswith("airline (")
    proc.send_signal(sig)
    out, err = proc.communicate()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == (
        f"Interrupted ({name}) before training finished; nothing was kept")
    assert "Traceback" not in err
    assert not runs.exists()  # no hidden temporary folder, no reserved name, no "runs" it made


# --- 4. resume gives bitwise the same run ------------------------------------------------------

# Members that stop far apart (temperature, seeds 0-2: one stops at epoch 13, the others after
# about 36; ~25 ms an epoch), so that a SIGTERM sent when the first one's checkpoint appears finds
# the others still training. (Members that all stopped at one epoch gave a window of milliseconds:
# the signal could arrive after the run had finished.)
ENSEMBLE = ["--dataset", "temperature", "--hidden", "32", "--no-plot", "--ensemble", "3",
            "--epochs", "3000", "--patience", "10", "--no-statistical"]


@POSIX
def test_resume_after_sigterm_gives_bitwise_the_uninterrupted_run(tmp_path):
    proc = start(tmp_path, "train", *ENSEMBLE)
    runs = tmp_path / "runs"
    wait_for(lambda: any(re.fullmatch(r"member-\d+\.npz", f) for p in staging_folders(runs)
                         for f in os.listdir(p)), proc, "the first member's checkpoint appeared")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate()
    assert proc.returncode == 143, err
    line = err.strip().splitlines()[-1]
    prefix = "Interrupted (SIGTERM); "
    assert line.startswith(prefix) and "continue with: fastrnn train --resume runs/" in line, line
    finished = int(line[len(prefix):].split()[0])
    assert line[len(prefix):].startswith(f"{finished} of 3 members finished; ") and finished in (1, 2)
    resume_path = line.split("--resume ")[1]
    (stage,) = staging_folders(runs)  # kept: the resumable state
    members = sorted(f for f in os.listdir(stage) if re.fullmatch(r"member-\d+\.npz", f))
    assert len(members) == finished and set(members) <= {f"member-{k}.npz" for k in range(3)}
    assert os.listdir(runs / Path(resume_path).name) == []  # the reserved name, still empty

    r = subprocess.run(cli("train", "--resume", resume_path), cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert f"{finished} of 3 members finished before" in r.stdout
    assert f"Saved {resume_path}/" in r.stdout  # the name the interrupted run reserved
    assert os.listdir(runs) == [Path(resume_path).name]  # no staging folder left
    done = tmp_path / resume_path
    assert sorted(os.listdir(done)) == ["metrics.json", "model.npz", "preprocessing.json"]

    ref = subprocess.run(cli("train", *ENSEMBLE, "--out", "ref"), cwd=tmp_path,
                         capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    assert_same_run(done, tmp_path / "ref")

    again = subprocess.run(cli("train", "--resume", resume_path), cwd=tmp_path,
                           capture_output=True, text=True)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"Error: --resume {resume_path} is a finished run (it has model.npz); there is nothing to "
        f"resume: use it with `fastrnn predict --model {resume_path}`, or train again without "
        f"--resume"]


def test_resume_in_the_library_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    """Interrupt fc.run while its ensemble trains, right after the first member's checkpoint
    (the members train together in one stack, each checkpointed when it stops), then resume it."""
    cfg = fc.make_config(epochs=3, hidden=4, ensemble=3, patience=0)
    real_save = job.save_member
    calls = []

    def interrupt_second(folder, k, *a, **kw):
        calls.append(k)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_save(folder, k, *a, **kw)

    monkeypatch.setattr(job, "save_member", interrupt_second)  # the one train calls
    with pytest.raises(KeyboardInterrupt):
        fc.run(cfg, plot=False, progress=False, root=tmp_path / "runs")
    assert calls == [0, 1]
    monkeypatch.setattr(job, "save_member", real_save)
    (reserved,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    res, path, _ = fc.run(None, plot=False, progress=False, resume=reserved)
    assert path == reserved and res.resumed == 1
    assert os.listdir(tmp_path / "runs") == [reserved.name]
    ref, ref_path, _ = fc.run(fc.make_config(epochs=3, hidden=4, ensemble=3, patience=0),
                              out=tmp_path / "ref", plot=False, progress=False)
    assert ref.resumed == 0
    assert_same_run(path, ref_path)


def test_resume_errors_are_one_line(tmp_path, tiny_run):
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    for target, words in ((tmp_path / "missing", "does not exist"),
                          (tmp_path / "empty", "is not an interrupted run"),
                          (tiny_run, "is a finished run")):
        r = runner.invoke(main, ["train", "--resume", str(target)])
        assert r.exit_code == 1, r.output
        (line,) = r.output.strip().splitlines()
        assert line.startswith(f"Error: --resume {target} ") and words in line
    r = runner.invoke(main, ["train", "--resume", str(tmp_path), "--hidden", "8", "--out", "x"])
    assert r.exit_code == 2
    assert "--resume continues a run with the settings it was started with; drop --hidden, --out" \
        in r.output
    assert os.listdir(tmp_path / "empty") == []
    r = runner.invoke(main, ["train", "--resume", str(tmp_path / "missing"), "--no-plot"])
    assert r.exit_code == 1 and "does not exist" in r.output  # --plot/--no-plot may be given


def test_resume_refuses_changed_data_and_keeps_the_state(tmp_path):
    csv = tmp_path / "s.csv"
    csv.write_text("v\n" + "".join(f"{(i * 7) % 11 + 0.5 * i}\n" for i in range(80)))
    cfg = fc.make_config(csv=str(csv), epochs=2, hidden=4, ensemble=2)
    stage = fc.Staging(tmp_path / "out")
    stage.begin(cfg, fc.load_series(cfg))
    save_member(stage.path, 0, fc.build_model(cfg, seed=cfg.seed),
                    History(loss=[1.0], val_loss=[1.0], seconds=[0.1], best_epoch=1), 0.1)
    before = sorted(os.listdir(stage.path))
    csv.write_text(csv.read_text().replace("\n22.5\n", "\n23.5\n", 1))  # one value changed
    with pytest.raises(fc.RunError, match="changed since it was interrupted"):
        fc.run(None, resume=stage.path, plot=False)
    assert sorted(os.listdir(stage.path)) == before  # the resumable state is untouched


# --- 5. divergence ----------------------------------------------------------------------------


def test_a_diverged_run_is_saved_with_a_warning(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["train", *TINY, "--epochs", "2", "--lr", "1000", "--out",
                             str(tmp_path / "bad")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "bad" / "metrics.json").read_text())
    assert m["test"]["rmse"] > 10 * m["baselines"]["persistence"]["rmse"]
    assert "diverged" in m["warning"] and "lower --lr" in m["warning"] and "--clip-norm" in m["warning"]
    warnings = [line for line in r.output.splitlines() if line.startswith("Warning: ")]
    assert warnings == [f"Warning: {m['warning']}"]
    lines = r.output.splitlines()
    assert lines.index(warnings[0]) > next(i for i, x in enumerate(lines) if "persistence" in x)

    ok = runner.invoke(main, ["train", *TINY, "--epochs", "2", "--out", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.output
    assert "warning" not in json.loads((tmp_path / "ok" / "metrics.json").read_text())
    assert "Warning" not in ok.output


def test_a_nan_loss_is_reported_even_when_the_scores_look_fine():
    cfg = fc.make_config(epochs=1, hidden=4, ensemble=1)
    res = fc.train(cfg)
    bad = History(loss=[1.0], val_loss=[1.0], best_epoch=1, diverged=True,
                        stop_reason="stopped at epoch 2: the loss became NaN or infinite; ...")
    w = fc.divergence_warning(res.metrics, [res.history, bad], res.prep)
    assert w.startswith("training diverged (the loss became NaN or infinite in member 2;")
    assert fc.divergence_warning(res.metrics, [res.history], res.prep) is None


def test_infinite_forecasts_end_with_one_error_line(tmp_path):
    r = CliRunner().invoke(main, ["train", *TINY, "--epochs", "20", "--hidden", "8", "--lr", "1e9",
                                  "--clip-norm", "0", "--out", str(tmp_path / "nan")])
    assert r.exit_code == 1
    (err,) = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert "training diverged" in err and "lower --lr" in err
    assert "Traceback" not in r.output and "RuntimeWarning" not in r.output
    assert os.listdir(tmp_path) == []


def test_resume_from_another_folder_reads_the_same_csv(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "s.csv").write_text("v\n" + "".join(f"{(i * 7) % 11 + 0.5 * i}\n"
                                                            for i in range(80)))
    monkeypatch.chdir(tmp_path / "a")
    cfg = fc.make_config(csv="s.csv", epochs=2, hidden=4, ensemble=2)
    stage = fc.Staging(tmp_path / "out")
    stage.begin(cfg, fc.load_series(cfg))
    monkeypatch.chdir(tmp_path / "b")
    again = fc.Staging.resume(stage.path)
    assert Path(again.config.csv) == tmp_path / "a" / "s.csv"
    again.check_data(fc.load_series(again.config))  # the same series: accepted


@POSIX
def test_an_interruption_lost_in_a_c_callback_is_raised_again(monkeypatch):
    """An exception raised inside a ctypes callback (llvmlite's, while Numba compiles) is printed
    and dropped; the interruption must still arrive, a moment later."""
    import ctypes

    from fastrnn.cli.forecast import _Interrupted, interrupt_signals

    compare_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))

    def compare(a, b):  # the signal's handler runs in here, inside the callback
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # give the handler bytecodes to run at
            pass
        return a[0] - b[0]

    lost = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: lost.append(u.exc_type))
    values = (ctypes.c_int * 2)(2, 1)
    with pytest.raises(_Interrupted):
        with interrupt_signals():
            ctypes.CDLL(None).qsort(values, 2, ctypes.sizeof(ctypes.c_int), compare_t(compare))
            t_end = time.monotonic() + 10  # a guard against a hang, no timing assertion
            while time.monotonic() < t_end:
                time.sleep(0.01)
    assert lost == [_Interrupted]  # it was lost once inside the callback, as in the real case


# A module run with ``python -m`` that is interrupted inside ``exec`` of source text: the
# KeyboardInterrupt leaving that code marks the interpreter, which then ends by SIGINT (status -2)
# whatever exit status the clean-up gives (CPython 3.10-3.13; dataclasses exec every __init__ they
# build, so an import at the wrong moment did this to ``fastrnn train``).
_EXEC_PROBE = """
import sys, time
from fastrnn.cli.forecast import interrupt_signals

def main():
    with interrupt_signals() as signals:
        try:
            ns = {}
            exec("import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\n"
                 "for _ in range(1000): pass\\nfinished = True\\n", ns)
            print("exec finished:", ns.get("finished"), flush=True)
            t_end = time.monotonic() + 10  # a guard against a hang, no timing assertion
            while time.monotonic() < t_end:
                time.sleep(0.01)
        except KeyboardInterrupt:
            signals.caught()
            sys.exit(130)

main()
"""


@POSIX
def test_an_interruption_is_not_raised_inside_exec_of_source_text(tmp_path):
    (tmp_path / "exec_probe.py").write_text(_EXEC_PROBE)
    proc = subprocess.run([sys.executable, "-m", "exec_probe"], cwd=tmp_path, capture_output=True,
                          text=True, preexec_fn=_default_signals, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stdout == "exec finished: True\n"  # raised after the exec'd code, not inside it


@POSIX
def test_a_signal_still_interrupts_a_command_run_by_python_c(tmp_path):
    """``python -c`` runs the command inside code from source text; that code lies outside the
    command, so the interruption is raised as usual."""
    proc = subprocess.Popen([sys.executable, "-c", "from fastrnn.cli import main; main()", "train",
                             *TINY, "--epochs", "100000", "--patience", "0"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), preexec_fn=_default_signals)
    runs = tmp_path / "runs"
    wait_for(lambda: any((p / "resume.json").is_file() for p in staging_folders(runs)), proc,
             "the staging folder was made")
    assert proc.stdout.readline().startswith("airline (")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "Interrupted (Ctrl-C) before training finished; nothing was kept"
    assert not runs.exists()


@POSIX
def test_the_retry_does_not_interrupt_the_clean_up_of_an_interruption():
    """The re-raise (SIGALRM) of an interruption that has not been reported caught is skipped while
    an except clause handles one (it has arrived: raising it there would break its own clean-up),
    and still raises outside one."""
    from fastrnn.cli import forecast as cli

    with cli.interrupt_signals() as signals:
        retry = signal.getsignal(signal.SIGALRM)
        signals._pending = signal.SIGTERM
        try:
            raise cli._Interrupted(signal.SIGTERM)
        except KeyboardInterrupt:
            try:
                retry(signal.SIGALRM, None)  # inside the clean-up: no second interruption
            except KeyboardInterrupt:
                pytest.fail("the retry raised the interruption again inside its own clean-up")
        with pytest.raises(KeyboardInterrupt):
            retry(signal.SIGALRM, None)  # not yet caught, nothing handling it: raised again
        signals.caught()
