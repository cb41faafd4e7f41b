"""What the platform and the images both speak: the lean HTTP server and the data-capture format.

Nothing here imports anything else of Headwater's, so every image carries it
beside ``containers/common`` and the platform imports it without importing
image code.
"""
