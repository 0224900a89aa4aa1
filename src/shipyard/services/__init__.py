"""Domain logic that is not storage: tracking, data, registry, pipelines and monitoring."""
