"""The subcommands of `restorelab` that take plain options: one module each, with the parser
that adds the subcommand's options and the handler that runs it (`add_parser`, `run`).

`restorelab.cli` puts them together; `train` and `sweep` take Hydra's command line there.
"""
