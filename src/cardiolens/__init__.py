"""cardiolens: reproducible, explainable deep learning for cardiac imaging studies."""

__version__ = "0.1.0"
