"""Jobs that run a source, the pipeline and a sink together: the pipeline is theirs to run,
where sources and sinks only read and write."""
