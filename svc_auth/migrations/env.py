from mesh.migrations_env import run_migrations
from svc_auth.store import Base

run_migrations("auth", Base.metadata)
