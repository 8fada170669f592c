"""Request analytics: the `api_requests` log written through the kernel's buffered writer."""
