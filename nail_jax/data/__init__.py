"""Demonstration data: the dataset format (``datasets``), what a run takes of it
(``demonstrations``), rolling a policy out into one (``collect``), and ``bundled/`` datasets."""
