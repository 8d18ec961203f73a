"""Real peers the source tests drive: npm fluent-logger, TLS material, raw forward clients."""
