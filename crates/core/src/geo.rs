//! Geographic points and great-circle distance.

use std::fmt;

/// A validated latitude/longitude pair in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    latitude: f64,
    longitude: f64,
}

/// Coordinates outside −90..=90 / −180..=180, or not finite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid coordinates ({latitude}, {longitude}): {reason}")]
pub struct GeoError {
    /// The rejected latitude.
    pub latitude: f64,
    /// The rejected longitude.
    pub longitude: f64,
    /// What was wrong.
    pub reason: &'static str,
}

impl GeoPoint {
    /// Builds a point, rejecting out-of-range or non-finite coordinates.
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, GeoError> {
        let error = |reason| GeoError {
            latitude,
            longitude,
            reason,
        };
        if !latitude.is_finite() || !longitude.is_finite() {
            return Err(error("coordinates must be finite numbers"));
        }
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(error("latitude must be between -90 and 90"));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(error("longitude must be between -180 and 180"));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }

    /// Latitude in degrees.
    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    /// Longitude in degrees.
    pub fn longitude(&self) -> f64 {
        self.longitude
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius 6371.0088 km).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (p1, p2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let (dp, dl) = (p2 - p1, (other.longitude - self.longitude).to_radians());
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * 6371.0088 * a.sqrt().asin()
    }
}

impl fmt::Display for GeoPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.latitude, self.longitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn london_to_linkoping() {
        let london = GeoPoint::new(51.5142, -0.0931).unwrap();
        let linkoping = GeoPoint::new(58.4167, 15.6167).unwrap();
        let km = london.distance_km(&linkoping);
        assert!((km - 1257.7).abs() < 1.0, "got {km}");
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(GeoPoint::new(91.0, 0.0).is_err());
        assert!(GeoPoint::new(0.0, -181.0).is_err());
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
    }
}
