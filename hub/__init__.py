"""burgerhub: a multi-channel alert hub for citizen-participation networks."""

__version__ = "0.1.0"
