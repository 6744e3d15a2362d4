"""Lookout's settings: the schema (``schema``), reading them (``load``), the checks across settings (``validate``),
hints for unknown keys (``hints``), the error naming every problem (``errors``) and the reference of every setting
(``reference``)."""
