"""Provides the app's screens: launcher, live run, run detail, runs browser, comparison, quit dialog."""
