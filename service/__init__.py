"""The Switchyard server: settings, model repository, runners, protocol servicers, health, CLI."""

from protos import __version__ as __version__
