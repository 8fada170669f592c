"""`python -m cerebra [--host H] [--port P]`: serve cerebra (default port 8080)."""

from oco.serve import serve_main

if __name__ == "__main__":
    serve_main("cerebra", "cerebra.app:create_app", 8080)
