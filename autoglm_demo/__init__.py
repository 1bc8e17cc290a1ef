"""AutoGLM-Phone-9B multimodal demo."""
