"""pllm."""
