"""`python -m svc_finance` starts the finance service under the mesh."""

from mesh.server import run
from svc_finance.service import definition

run(definition())
