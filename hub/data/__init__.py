"""Reference tables shipped with burgerhub (places, postcode regions, border anchors); read by :mod:`hub.places`."""
