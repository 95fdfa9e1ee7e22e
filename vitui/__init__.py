"""vitui: a terminal dashboard for training and looking inside the models that lead up to the ViT."""

__version__ = "0.1.0"
