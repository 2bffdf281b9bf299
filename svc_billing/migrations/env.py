from mesh.migrations_env import run_migrations
from svc_billing.store import Base

run_migrations("billing", Base.metadata)
