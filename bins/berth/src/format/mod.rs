//! Pure renderers that reproduce the docker CLI's output byte for byte.

pub mod gojson;
pub mod gotime;
pub mod inspector;
pub mod list;
pub mod natural;
pub mod tabwriter;
pub mod template;
pub mod units;

/// docker's `stringid.TruncateID`: drop an `algo:` prefix, keep 12 chars.
pub fn truncate_id(id: &str) -> &str {
    let id = id.split_once(':').map_or(id, |(_, rest)| rest);
    id.char_indices().nth(12).map_or(id, |(i, _)| &id[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation() {
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("short"), "short");
    }
}
