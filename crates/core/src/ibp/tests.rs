//! Unit tests of the IBP importer.
