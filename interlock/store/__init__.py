"""State stores: the :class:`~interlock.store.base.Store` contract (``base.py``) and its backends.

Import what you need from the module that defines it: ``interlock.store.base`` (the contract and
its records), ``redis``, ``dynamodb``, ``memory``, or ``factory`` (the store a project names).
"""
