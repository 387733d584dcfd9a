"""The fact-check annotation dataset builder: news articles in, a labeled Hugging Face dataset out."""

__version__ = "0.1.0"
