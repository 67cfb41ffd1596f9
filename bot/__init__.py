"""citebot: answers questions from news articles with verbatim, cited quotes."""
