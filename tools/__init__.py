"""Maintainers' tools, not part of the running demo: publishing the Hugging Face Space and
re-rendering the example screenshot the page ships."""
