//! Docker-style generated names (`adjective_surname`) for containers
//! created without one.

/// Docker-style generated names: `adjective_surname`.
pub fn generated_name(seed: &[u8; 32], taken: impl Fn(&str) -> bool) -> String {
    const LEFT: [&str; 24] = [
        "admiring",
        "bold",
        "brave",
        "clever",
        "dazzling",
        "eager",
        "elated",
        "focused",
        "gallant",
        "happy",
        "jolly",
        "keen",
        "kind",
        "lucid",
        "modest",
        "nifty",
        "optimistic",
        "quirky",
        "serene",
        "sharp",
        "stoic",
        "tender",
        "vibrant",
        "zealous",
    ];
    const RIGHT: [&str; 24] = [
        "albattani",
        "babbage",
        "curie",
        "darwin",
        "einstein",
        "feynman",
        "galileo",
        "hopper",
        "hypatia",
        "johnson",
        "kepler",
        "lamarr",
        "lovelace",
        "meitner",
        "newton",
        "noether",
        "pasteur",
        "ritchie",
        "shannon",
        "tesla",
        "thompson",
        "torvalds",
        "turing",
        "wozniak",
    ];
    let base = format!(
        "{}_{}",
        LEFT[usize::from(seed[0]) % LEFT.len()],
        RIGHT[usize::from(seed[1]) % RIGHT.len()]
    );
    if !taken(&base) {
        return base;
    }
    // Docker appends a digit on a clash; count up until free.
    (1..)
        .map(|n| format!("{base}{n}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}
