"""Every registered layer's config round-trips through get_config / from_config."""

import pytest

import netgrad.layers  # noqa: F401  (registers every layer of the library)

from io_examples import EXAMPLES, check_config_round_trip, example_params, netgrad_layer_types


def test_every_registered_layer_has_an_example():
    missing = sorted(set(netgrad_layer_types()) - set(EXAMPLES))
    assert not missing, (f"layers without an example in tests/io/_examples.py: {missing}; add "
                         "constructions so their config and save/load round trips are checked")


def _params():
    out = []
    for name, i in example_params():
        bug = EXAMPLES[name][i].bug
        marks = [pytest.mark.xfail(strict=True, reason=f"{name}: {bug}")] if bug else []
        out.append(pytest.param(name, i, marks=marks, id=f"{name}-{i}"))
    return out


@pytest.mark.parametrize("name, i", _params())
def test_config_round_trip(name, i):
    layer = EXAMPLES[name][i].make()
    assert type(layer).__name__ == name
    check_config_round_trip(layer)
