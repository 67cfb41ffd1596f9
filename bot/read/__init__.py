"""Which sentence answers, and where: the linear first cut and the trained reader."""
