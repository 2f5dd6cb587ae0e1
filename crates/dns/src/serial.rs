//! SOA serials that change only when a zone's content changes: each zone's serial is
//! kept with a digest of its content; a new digest gets a new, larger serial (the Unix
//! time, or the old serial + 1 if that is not larger). The book is saved by the caller so
//! a restart keeps the serials.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Serial and content digest of one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Content digest when `serial` was given.
    pub digest: u64,
    /// The serial.
    pub serial: u32,
}

/// Serials by zone apex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialBook {
    zones: BTreeMap<String, Entry>,
    #[serde(skip)]
    changed: bool,
}

impl SerialBook {
    /// The serial of `zone` for content `digest`; a new digest gets a larger serial.
    pub fn serial(&mut self, zone: &str, digest: u64, now_unix: u32) -> u32 {
        match self.zones.get(zone) {
            Some(entry) if entry.digest == digest => entry.serial,
            Some(entry) => {
                let serial = now_unix.max(entry.serial.wrapping_add(1));
                self.set(zone, digest, serial)
            }
            None => self.set(zone, digest, now_unix.max(1)),
        }
    }

    fn set(&mut self, zone: &str, digest: u64, serial: u32) -> u32 {
        self.zones.insert(zone.to_owned(), Entry { digest, serial });
        self.changed = true;
        serial
    }

    /// True (once) if a serial changed since the last call: time to save the book.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serial_changes_only_with_the_content() {
        let mut book = SerialBook::default();
        let first = book.serial("example.net", 1, 1000);
        assert_eq!(first, 1000);
        assert!(book.take_changed());
        assert_eq!(book.serial("example.net", 1, 5000), 1000);
        assert!(!book.take_changed());
        assert_eq!(book.serial("example.net", 2, 5000), 5000);
        // Two changes within one second still increase the serial.
        assert_eq!(book.serial("example.net", 3, 5000), 5001);
        assert!(book.take_changed());
    }
}
