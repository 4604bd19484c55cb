"""The wire: .proto sources, the generated modules, and the one codec (protobuf <-> numpy)."""
