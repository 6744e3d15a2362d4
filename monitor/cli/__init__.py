"""The ``lookout`` command line: the parser and entry point (``main``), what the commands share (``common``), and one
module per command or pair of commands (``commands``), each sub-parser next to its handler."""
