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
    assert "1.5 0.0 -0.41666666666666" in out      # removable singularities: the limits at 0
    assert "\nTrue\n" in out                      # finite Power gradients on all-zero windows
    assert "15 max_training_rounds=15 reached" in out
    assert "True 0.0" in out
    assert "(3, 64, 64) False True" in out          # the red-channel NetPortGradient example
    assert namespace["label"] in ("circle", "square", "triangle") and len(namespace["top"]) == 2


def test_readme_pictures_come_from_the_figure_script(tmp_path):
    """The README shows docs/figures/*.png; the script that writes them runs and writes them."""
    import runpy
    from PIL import Image
    shown = re.findall(r"!\[[^\]]*\]\((docs/figures/[^)]+\.png)\)", README.read_text())
    assert sorted(shown) == ["docs/figures/net_graph.png", "docs/figures/red_channel_gradient.png"]
    script = README.parent / "docs" / "figures" / "make_figures.py"
    assert runpy.run_path(str(script))["main"]([str(tmp_path)]) == 0
    for rel in shown:
        with Image.open(tmp_path / pathlib.Path(rel).name) as fresh, \
                Image.open(README.parent / rel) as committed:
            assert fresh.size == committed.size        # the committed picture is this script's
