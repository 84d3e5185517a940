"""``python -m netgrad coverage``: the routed and passed-through torch functions, with reasons."""

from __future__ import annotations

import torch

from netgrad.__main__ import main
from netgrad.ops._coverage import coverage
from netgrad.ops._robust import robust_counterpart


def test_every_row_agrees_with_the_routing_table():
    rows = {name: (status, reason) for name, status, reason in coverage()}
    for name in ("torch.log2", "torch.logaddexp", "Tensor.sqrt_", "torch.nn.functional.gelu",
                 "torch.nn.functional.multi_head_attention_forward", "torch.sqrt"):
        assert rows[name][0] == "routed", name
    for name in ("torch.cumsum", "torch.floor", "torch.cat", "torch.lgamma", "torch.einsum"):
        assert rows[name][0] == "passed through", name
        assert rows[name][1], name
    assert "linear" in rows["torch.sum"][1]
    assert "NOT YET" in rows["torch.einsum"][1]
    assert (robust_counterpart(torch.log2) is not None) and (robust_counterpart(torch.cumsum)
                                                            is None)


def test_the_command(capsys):
    assert main(["coverage", "--routed"]) == 0
    out = capsys.readouterr().out
    assert "routed" in out.splitlines()[0] and "torch.log2" in out and "torch.cumsum" not in out
    assert main(["coverage"]) == 0
    assert "passed through  torch.cumsum" in capsys.readouterr().out
