"""`python -m economist [--host H] [--port P]`: serve economist (default port 8081)."""

from oco.serve import serve_main

if __name__ == "__main__":
    serve_main("economist", "economist.app:create_app", 8081)
