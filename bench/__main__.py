"""`python -m bench`: every benchmark, one after the other, on this machine."""

import os

from bench import entitlements, events, mesh_bench

home = os.environ.get("ERP_HOME")
mesh_bench.main()
# mesh_bench points ERP_HOME at its throwaway mesh; the next figures go to the user's.
if home is None:
    os.environ.pop("ERP_HOME", None)
else:
    os.environ["ERP_HOME"] = home
events.main()
entitlements.main()
