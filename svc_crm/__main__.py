"""`python -m svc_crm` starts the CRM service under the mesh."""

from mesh.server import run
from svc_crm.service import definition

run(definition())
