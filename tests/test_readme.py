"""The README's Python examples run as written, in order, in one namespace."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "8.0 [2. 4.]" in out and "0.0 [0. 0.]" in out
    assert "[0.   0.25]" in out
    assert "tensor([-1.0000,  0.0000,  1.2500])" in out
    assert "1.6510e-30" in out
    assert "\nTrue\n" in out                      # finite Power gradients on all-zero windows
    assert "15 max_training_rounds=15 reached" in out
