//! Unit tests of config parsing and validation.
