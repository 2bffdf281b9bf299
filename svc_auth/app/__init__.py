"""Use cases: each opens one unit of work, applies the domain rules, writes rows,
events and audit entries together, and returns rows for api.py to render.

This is the service layer of cosmicpython: between the servicer (which only
translates) and the domain (which only decides).
"""
