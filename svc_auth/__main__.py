"""`python -m svc_auth`: serve AuthService on the mesh."""

from mesh.server import run
from svc_auth.service import definition

if __name__ == "__main__":
    run(definition())
