from mesh.migrations_env import run_migrations
from svc_crm.store import Base

run_migrations("crm", Base.metadata)
