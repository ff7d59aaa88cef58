# tests/s5066.mk - s5066 unit tests and fuzz targets
