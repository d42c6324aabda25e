"""Environments behind one boundary: the protocol an env meets and the suite entry
(``base``); one adapter per simulator suite (``brax_suite``; ``toy``, the point mass); envs by
name over the suites (``registry``); the training env loop with absorbing states and
truncation (``loop``), and evaluation (``evaluate``), which see only the protocol.

Adding a suite is one adapter module, its presets and its data.
"""
