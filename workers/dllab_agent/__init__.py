"""The DLLab agent: runs on every GPU host and runs the units the control plane sends."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dllab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
