"""One module per command (or pair of related commands): ``add`` registers its sub-parser, the handlers follow.
A module imports only light modules at the top; what needs torch, scikit-learn or matplotlib is imported by the
handler that runs, so that ``lookout --help`` and the read-only commands start fast."""
