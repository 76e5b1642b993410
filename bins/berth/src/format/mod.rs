//! Pure renderers that reproduce the docker CLI's output byte for byte.

pub mod gojson;
pub mod gotime;
pub mod inspector;
pub mod tabwriter;
pub mod template;
pub mod units;
