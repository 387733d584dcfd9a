"""The fact-check annotation dataset builder: news articles in, a labeled HF dataset out."""

__version__ = "0.1.0"
