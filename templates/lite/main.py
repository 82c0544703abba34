"""whichwall's Excel functions in xlwings Lite.

Paste this file into xlwings Lite's main.py tab, and templates/lite/requirements.txt into its requirements.txt tab
below the xlwings line xlwings Lite put there (see templates/README.md). Every function in ``udfs.__all__``
becomes an Excel function with its description and argument docs (Excel shows them in the formula builder),
registered with xlwings Lite's own ``@func``/``@arg`` decorators with the options the package recorded in
``__whichwall__`` (the same ones the classic add-in uses; every argument reads an error cell such as #N/A as an
error, never as the default).

Errors show as #VALUE!; hover over the cell's error flag for the message (it names the bad argument and what would
be right).
"""

import os
import tempfile

from xlwings import arg, func

import udfs
from udfs import _xw

# Optional: your own accelerators and models, in the YAML shape of whichwall's catalogue (planner/data/*.yaml) or
# a model's config.json as JSON text. Leave empty to use the built-in catalogue only. =CATALOGUE_FILES() shows
# what is in force; a malformed entry turns every function into an error that names the field.
USER_CATALOGUE_YAML = """
"""


def _use_user_catalogue(text: str) -> None:
    if not text.strip():
        return
    path = os.path.join(tempfile.gettempdir(), "whichwall-user-catalogue.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.environ["WHICHWALL_CATALOGUE"] = path


_use_user_catalogue(USER_CATALOGUE_YAML)


def _register_all() -> None:
    """Bind every function of ``udfs.__all__`` here, registered with xlwings Lite's decorators.

    A function, not a loop at module level: xlwings Lite registers every member of this module that carries
    ``__xlfunc__``, so a loop variable left behind (a second name for the last function) would register that
    function twice, and Lite refuses the whole module ("Duplicate custom function name")."""
    for name in udfs.__all__:
        globals()[name] = _xw.register(getattr(udfs, name), func, arg)


_register_all()
