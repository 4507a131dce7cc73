"""One module per stage, each with one public entry ``run(cfg) -> Result``."""
