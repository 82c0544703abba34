"""whichwall's Excel functions in xlwings Lite.

Paste this file into xlwings Lite's main.py tab and templates/lite/requirements.txt into its requirements.txt tab
(see templates/README.md). Every function in ``udfs.__all__`` becomes an Excel function with its description and
argument docs (Excel shows them in the formula builder), registered with xlwings Lite's own ``@func``/``@arg``
decorators, which the package recorded in ``__whichwall__`` (the same ones the classic add-in uses).

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

for _name in udfs.__all__:
    _f = getattr(udfs, _name)
    _meta = _xw.meta(_f)
    for _arg_name, _options in _meta["args"].items():
        _f = arg(_arg_name, **_options)(_f)
    globals()[_name] = func(**_meta["func"])(_f) if _meta["func"] else func(_f)
