//! Natural ordering (`github.com/fvbommel/sortorder`), which docker sorts
//! names and port listings with: `net9` before `net10`.

use std::cmp::Ordering;

/// `github.com/fvbommel/sortorder.NaturalLess`: bytewise, except that runs
/// of digits compare by numeric value (then by fewer leading zeros), and a
/// digit sorts before any other byte.
pub fn less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (ca, cb) = (a[i], b[j]);
        let (da, db) = (ca.is_ascii_digit(), cb.is_ascii_digit());
        if da != db {
            return da;
        }
        if !da {
            if ca != cb {
                return ca < cb;
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (nz_a, nz_b) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (num_a, num_b) = (&a[nz_a..i], &b[nz_b..j]);
        if num_a.len() != num_b.len() {
            return num_a.len() < num_b.len();
        }
        if num_a != num_b {
            return num_a < num_b;
        }
        if nz_a != nz_b {
            return nz_a < nz_b;
        }
    }
    a.len() - i < b.len() - j
}

/// `less` as an ordering, for `sort_by`.
pub fn compare(a: &str, b: &str) -> Ordering {
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut names = vec!["a10", "a9", "a09", "b", "A", "1x", "a", "a9b", "a9a"];
        names.sort_by(|a, b| compare(a, b));
        assert_eq!(
            names,
            vec!["1x", "A", "a", "a9", "a9a", "a9b", "a09", "a10", "b"]
        );
    }
}
