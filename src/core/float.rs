//! Floats that cross JSON whole, for `#[serde(with = "…")]`: a finite number is written as a
//! number, NaN, +∞ and −∞ as the strings "NaN", "inf" and "-inf". JSON has no literal for
//! them; serde_json would write `null` and then refuse to read it back, so one non-finite
//! number (a probe's gain, a margin) would lose a whole event. `null` reads as NaN (what
//! files written before this encoding hold).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// One float, as this module writes it.
#[derive(Clone, Copy, Debug)]
struct Float(f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            x if x.is_finite() => s.serialize_f64(x),
            x if x.is_nan() => s.serialize_str("NaN"),
            x if x > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = Float;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, \"NaN\", \"inf\" or \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Float, E> {
        Ok(Float(x))
    }

    fn visit_i64<E: de::Error>(self, x: i64) -> Result<Float, E> {
        Ok(Float(x as f64))
    }

    fn visit_u64<E: de::Error>(self, x: u64) -> Result<Float, E> {
        Ok(Float(x as f64))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Float, E> {
        match s {
            "NaN" => Ok(Float(f64::NAN)),
            "inf" => Ok(Float(f64::INFINITY)),
            "-inf" => Ok(Float(f64::NEG_INFINITY)),
            _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Float, E> {
        Ok(Float(f64::NAN))
    }

    fn visit_none<E: de::Error>(self) -> Result<Float, E> {
        Ok(Float(f64::NAN))
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FloatVisitor)
    }
}

/// An `f64`.
pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    Float(*x).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Float::deserialize(d).map(|f| f.0)
}

/// A `Vec<f64>`.
pub mod vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| Float(x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Float>::deserialize(d)?.into_iter().map(|f| f.0).collect())
    }
}

/// A `Vec<(f64, f64)>`.
pub mod pairs {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[(f64, f64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&(a, b)| (Float(a), Float(b))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(f64, f64)>, D::Error> {
        Ok(Vec::<(Float, Float)>::deserialize(d)?.into_iter().map(|(a, b)| (a.0, b.0)).collect())
    }
}

/// A `Vec<Vec<f32>>` (every f32 is exactly an f64, and back).
pub mod rows32 {
    use super::*;

    pub fn serialize<S: Serializer>(rows: &[Vec<f32>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(rows.iter().map(|r| r.iter().map(|&x| Float(f64::from(x))).collect::<Vec<_>>()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
        let rows = Vec::<Vec<Float>>::deserialize(d)?;
        Ok(rows.into_iter().map(|r| r.into_iter().map(|f| f.0 as f32).collect()).collect())
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct One {
        #[serde(with = "super")]
        x: f64,
    }

    #[test]
    fn non_finite_floats_are_named_and_null_reads_as_nan() {
        let json = |x| serde_json::to_string(&One { x }).unwrap();
        assert_eq!([json(f64::NAN), json(f64::INFINITY), json(f64::NEG_INFINITY), json(-0.0)], [
            r#"{"x":"NaN"}"#,
            r#"{"x":"inf"}"#,
            r#"{"x":"-inf"}"#,
            r#"{"x":-0.0}"#
        ]);
        let read = |s: &str| serde_json::from_str::<One>(s).map(|o| o.x);
        assert!(read(r#"{"x":null}"#).unwrap().is_nan());
        assert_eq!(read(r#"{"x":3}"#).unwrap(), 3.0);
        assert!(read(r#"{"x":"nan"}"#).is_err(), "only the three names");
    }
}
