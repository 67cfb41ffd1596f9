"""Files and pages into clean articles, then sentences and passages with character offsets."""
