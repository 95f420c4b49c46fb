"""Reports assembled from run directories; never recomputes a score."""
