"""Tests of femnn.lab (a package so that test_calibrate.py does not clash with tests/crosscheck/test_calibrate.py)."""
