"""CQOx benchmark suite: CQOx against its peers on the same data, in one process run."""
