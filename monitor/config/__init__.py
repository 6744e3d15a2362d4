"""Lookout's settings: the schema (``schema``), reading them (``load``), the checks across settings (``validate``)
and the reference of every setting (``reference``)."""
