"""The wire: .proto sources, the generated modules, and the one codec (protobuf <-> numpy)."""

# The one place the release number is written. It lives in the bottom layer so the server
# (service/), the clients and setuptools (pyproject.toml reads it without importing) all
# take it from here, and a client-only install has it too.
__version__ = "0.1.0"
