"""whichwall's planning core: typed catalogue, design-loop arithmetic, topology, walls.

Pure Python + numpy; imports nothing from ``udfs`` or ``workbook``.
"""

from planner.catalogue import Accelerator, Catalogue, Model, get_catalogue
from planner.errors import PlannerError
from planner.plan import PlanResult, evaluate
from planner.spec import PlanSpec, default_spec, load_spec

__all__ = [
    "Accelerator",
    "Catalogue",
    "Model",
    "PlanResult",
    "PlanSpec",
    "PlannerError",
    "default_spec",
    "evaluate",
    "get_catalogue",
    "load_spec",
]
