"""`python -m svc_billing` starts the billing service under the mesh."""

from mesh.server import run
from svc_billing.service import definition

run(definition())
