"""Corpus and labels into the Hugging Face dataset: splits, parquet files, card, figures."""
