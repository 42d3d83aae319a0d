"""The README is part of the contract: its tolerance table is the code's, its API section names what exists."""
import re
from pathlib import Path

import numpy_nn
import numpy_nn.functional as F
from numpy_nn import layers, losses, optimizers

from .tolerances import markdown_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_tolerance_table_is_the_one_in_tolerances_py():
    table = markdown_table().strip()
    assert table in README, "README's tolerance table differs from parity_tests/tolerances.py; " \
                            "regenerate it with `python -m parity_tests.report --tolerances`"


def test_every_functional_op_is_in_the_readme_api_section():
    missing = [name for name in F.__all__ if name.endswith("_forward") and name.replace("_forward", "") not in README]
    assert not missing, f"README's API section lacks {missing}"


def test_every_name_the_readme_api_table_lists_exists():
    api = README[README.index("## API at a glance"):README.index("## Correctness")]
    for name in set(re.findall(r"`(\w+)_(?:forward|backward)", api)):
        assert hasattr(F, f"{name}_forward") and hasattr(F, f"{name}_backward"), name
    for cls in layers.LAYERS:
        assert f"`{cls}(" in api, f"README's API section lacks the layer {cls}"
    for cls in ("SparseCategoricalCrossentropy", "CategoricalCrossentropy"):
        assert cls in api and hasattr(losses, cls), cls
    for cls in ("SGD", "Adam"):
        assert f"`{cls}(" in api and hasattr(optimizers, cls), cls
    for name in ("load_model", "CheckpointError", "TrainingDiverged", "Sequential"):
        assert name in api and hasattr(numpy_nn, name), name


def test_the_readme_shows_both_commands():
    assert "make test" in README and "make demo" in README
