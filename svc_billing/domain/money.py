"""Money helpers: amounts are ints of minor units with an ISO 4217 code beside them.
The rules are the mesh's (mesh.values), shared by every service."""

from mesh.values import check_currency as check_currency
from mesh.values import round_half_up as round_half_up
