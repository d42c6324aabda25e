"""Training: configs and overrides (``config``), named presets (``presets``), and the
trainer, ``make_train(config) -> train(key)`` (``trainer``)."""
