"""Reports of a suite's results: tables (Markdown, LaTeX, CSV, HTML), figures, methods and provenance.

`build.build_report` is the entry point; `tables` decides what a table says, `render` writes it,
`plots` draws the figures, `references` reads the papers' numbers, `provenance` and `methods` write
the blocks every output carries.
"""
