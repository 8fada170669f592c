"""`python -m aegis [--host H] [--port P]`: serve aegis (default port 8082)."""

from oco.serve import serve_main

if __name__ == "__main__":
    serve_main("aegis", "aegis.app:create_app", 8082)
