"""Long-running processor: config, wiring of sources -> pipeline -> sinks, HTTP endpoint."""
