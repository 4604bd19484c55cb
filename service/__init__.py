"""The Switchyard server: settings, model repository, runners, protocol servicers, health, CLI."""

__version__ = "0.1.0"
