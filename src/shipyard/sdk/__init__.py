"""The public Python API: the fluent functions and :class:`Client` (re-exported by ``shipyard``)."""
