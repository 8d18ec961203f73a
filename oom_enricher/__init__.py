"""oom-enricher: kernel OOM-killer reports from shipped syslog, reassembled and explained.

Data flows one way: sources -> normalize -> reassembly -> parsing -> enrich -> sinks.
"""

__version__ = "0.1.0"
