"""Streaming referrers: converted images attached to their sources, listed and verified.

- :mod:`.referrer`: the referrer manifest (artifactType, subject, ``streaming.*``).
- :mod:`.publish`: attach referrers in an OCI layout or a registry repository.
- :mod:`.discover`: list the referrers of an image, platform by platform.
- :mod:`.verify`: check every property a streaming consumer relies on.
"""
