"""raw/ into the corpus: articles, sentences, stories, control items."""
