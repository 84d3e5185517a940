"""The audit: netgrad passes every case, and the table prints."""

from __future__ import annotations

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
