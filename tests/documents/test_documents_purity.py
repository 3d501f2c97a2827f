"""documents/ is pure: importing it loads no web framework, ORM or other Casework package."""

import subprocess
import sys

FORBIDDEN = ("flask", "sqlalchemy", "casework", "workflows", "rq", "redis")
PROBE = f"""
import sys
import documents, documents.render, documents.batch, documents.lint, documents.build_templates
bad = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print(",".join(bad))
"""


def test_importing_documents_loads_no_app_framework_or_database():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
