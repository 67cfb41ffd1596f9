"""`citebot eval`: question sets, metrics, calibration of the abstention threshold, reports."""
