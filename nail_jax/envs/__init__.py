"""Environments: by name (``registry``), the toy point mass (``toy``), the training env loop
with absorbing states and truncation (``loop``), and evaluation (``evaluate``)."""
