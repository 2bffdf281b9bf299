from mesh.migrations_env import run_migrations
from svc_finance.store import Base

run_migrations("finance", Base.metadata)
