"""The model registry and its governance rules (four eyes, policies, protected aliases)."""
