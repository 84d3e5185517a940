"""The audit: netgrad passes every case, and the table prints; the JAX column (only when jax
is installed) runs and agrees with the contract's table."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from netgrad._audit import main, run_cases


def test_netgrad_passes_every_case_and_torch_does_not():
    rows = run_cases()
    assert len(rows) >= 30
    failed = [r["case"].name for r in rows if not r["netgrad_ok"]]
    assert not failed
    assert sum(r["torch_ok"] for r in rows) < len(rows)


def test_main_prints_the_table(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "PyTorch" in out and "passed: netgrad" in out


# --- the optional JAX column ---------------------------------------------------------------

# The JAX column of the contract's table ("What the usual frameworks do today"), by audit case.
# "ok": JAX passes; "NaN": JAX fails with NaN in the result; "n/a": no JAX counterpart.
CONTRACT_JAX = {
    "prod(Ramp(x)) at (4, -2): gradient": "ok",
    "vector norm at 0: gradient": "NaN",
    "sqrt(x*x + y*y) at (0, 0): gradient": "NaN",
    "where(x > 0, sqrt(x), 0) at -1: gradient": "NaN",
    "where(x > 0, log(x), 0) at 0: gradient": "NaN",
    "normalize(x) at 0: value": "NaN",
    "normalize(x) at 0: gradient": "NaN",
    "logsumexp([-inf, -inf]): gradient": "NaN",
    "softmax of a fully masked row: value": "NaN",
    "softmax of a fully masked row: gradient": "NaN",
    "std of a constant vector (2, 2, 2): gradient": "NaN",
    "atan2(0, 0): gradient": "NaN",
    "xlogy(x, x) at 0: gradient": "NaN",
    "power pooling, trainable p, all-zero window: gradient (x, p)": "NaN",
    "power pooling, float32, p = 80, values 100: d/dp finite": "NaN",
    "binary cross-entropy, p = 0, target 0: gradient": "n/a",
}
# Contract rows whose audit case measures the value, not the gradient the table's "NaN" comes
# from: JAX fails them too, but with an overflowed / underflowed value (as measured with
# JAX 0.10.2: inf and 0; the gradients there are NaN).
CONTRACT_JAX_FAILS_WITHOUT_NAN = {
    "power pooling, float32, p = 80, values 100: value": math.inf,
    "power pooling, float32, values 1e-30, p = 3: value": 0.0,
}


@pytest.fixture(scope="module")
def jax_rows():
    pytest.importorskip("jax")
    return {r["case"].name: r for r in run_cases(jax=True)}


def test_every_jax_case_runs(jax_rows):
    for name, r in jax_rows.items():
        if r["case"].jax_fn is None:
            assert r["jax"] == "n/a" and r["jax_ok"] is None, name
        else:
            assert isinstance(r["jax"], torch.Tensor), (name, r["jax"])
            assert r["jax_ok"] in (True, False), name
    assert sum(r["jax_ok"] is not None for r in jax_rows.values()) >= 40


def test_jax_column_agrees_with_the_contract_table(jax_rows):
    for name, want in CONTRACT_JAX.items():
        r = jax_rows[name]
        if want == "n/a":
            assert r["jax"] == "n/a", name
        elif want == "ok":
            assert r["jax_ok"] is True, (name, r["jax"])
        else:
            assert r["jax_ok"] is False and bool(torch.isnan(r["jax"]).any()), (name, r["jax"])
    for name, value in CONTRACT_JAX_FAILS_WITHOUT_NAN.items():
        r = jax_rows[name]
        assert r["jax_ok"] is False, name
        assert r["jax"].reshape(-1).tolist() == [value], (name, r["jax"])


def test_jax_runs_in_float64_and_restores_x64(jax_rows):
    import jax

    assert jax_rows["vector norm at 0: gradient"]["jax"].dtype == torch.float64
    assert jax_rows["power pooling, float32, p = 80, values 100: value"]["jax"].dtype == \
        torch.float32
    before = jax.config.read("jax_enable_x64")
    run_cases(_cases_named("prod(Ramp(x)) at (4, -2): gradient"), jax=True)
    assert jax.config.read("jax_enable_x64") == before


def test_main_prints_the_jax_column(capsys):
    pytest.importorskip("jax")
    assert main([]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "| JAX " in header
    assert "n/a" in out
    summary = [ln for ln in out.splitlines() if ln.startswith("passed:")]
    assert len(summary) == 1 and ", JAX " in summary[0]


def test_without_jax_there_is_no_jax_column(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` raises ImportError
    rows = run_cases(_cases_named("prod(Ramp(x)) at (4, -2): gradient"))
    assert "jax" not in rows[0] and "jax_ok" not in rows[0]
    with pytest.raises(ImportError):
        run_cases(_cases_named("prod(Ramp(x)) at (4, -2): gradient"), jax=True)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "JAX" not in out and "n/a" not in out
    assert "passed: netgrad" in out


def test_netgrad_does_not_import_jax():
    code = "import sys, netgrad, netgrad.ops, netgrad._audit; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def _cases_named(*names):
    from netgrad._audit import _cases

    return [c for c in _cases() if c.name in names]
