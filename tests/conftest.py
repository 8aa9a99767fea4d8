"""Suite-wide set-up.

pydantic is imported in full before anything imports Qt: PySide6's import hook inspects the source of modules
while they import, which trips pydantic's lazy attribute loading when a test's first pydantic import happens
after pytest-qt has loaded Qt (seen with tests/drivers/zeiss/test_zeiss_cli.py run on its own).
"""

import pydantic  # noqa: F401
import pydantic.fields  # noqa: F401
