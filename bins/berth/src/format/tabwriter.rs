//! Go's `text/tabwriter` (docker's fork in `cli/command/formatter/tabwriter`)
//! with a space pad character and no flags, the only way docker uses it,
//! through the `tabwriter` crate (a port of Go's).
//!
//! Cells are tab-*terminated*: the text after the last tab of a line is not
//! part of any column, which is why docker's tables have no trailing spaces.
//! A column is a run of consecutive lines that all have a cell in it; its
//! width is the widest cell plus `padding`, but at least `minwidth`.
//! Widths are display widths, as in docker's fork.

use std::io::Write;

/// Aligns the tab-separated `text` the way `tabwriter.NewWriter(out,
/// minwidth, 1, padding, ' ', 0)` followed by `Flush` does.
pub fn align(text: &str, minwidth: usize, padding: usize) -> String {
    // The crate pads after applying the minimum, Go pads before: a column is
    // max(cell + padding, minwidth) wide in Go, max(cell, m) + padding here.
    let mut writer = tabwriter::TabWriter::new(Vec::with_capacity(text.len() * 2))
        .minwidth(minwidth.saturating_sub(padding))
        .padding(padding);
    // Writes go to memory: neither call can fail.
    let aligned = writer
        .write_all(text.as_bytes())
        .and_then(|()| writer.flush())
        .ok()
        .and_then(|()| writer.into_inner().ok())
        .unwrap_or_default();
    String::from_utf8_lossy(&aligned).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_network_table() {
        let text = "NETWORK ID\tNAME\tDRIVER\tSCOPE\n\
                    f2de39df4171\tbridge\tbridge\tlocal\n\
                    bb11bb22cc33\tnet9-a-very-long-network-name\tbridge\tlocal\n";
        // Captured from `docker network ls` (28.2.2) against the same data.
        let want = "NETWORK ID     NAME                            DRIVER    SCOPE\n\
                    f2de39df4171   bridge                          bridge    local\n\
                    bb11bb22cc33   net9-a-very-long-network-name   bridge    local\n";
        assert_eq!(align(text, 10, 3), want);
    }

    #[test]
    fn trailing_empty_cells_are_padded() {
        // `docker network ls --format 'table {{.Name}}\t{{.Labels}}'` with no labels.
        let text = "NAME\tLABELS\nZeta\t\n";
        assert_eq!(align(text, 10, 3), "NAME      LABELS\nZeta      \n");
    }

    #[test]
    fn a_line_without_tabs_ends_the_column_block() {
        let text =
            "Client:\n Version:\t1\n API version:\t1.50\n\nServer:\n Engine:\n  Version:\t2\n";
        let want = "Client:\n Version:           1\n API version:       1.50\n\nServer:\n Engine:\n  Version:          2\n";
        assert_eq!(align(text, 20, 1), want);
    }

    #[test]
    fn blocks_are_sized_independently() {
        let text = "a\tb\nlonger-cell\tc\nx\ny\tz\n";
        assert_eq!(align(text, 0, 1), "a           b\nlonger-cell c\nx\ny z\n");
    }

    #[test]
    fn text_without_final_newline_is_kept() {
        assert_eq!(align("a\tb", 0, 1), "a b");
        assert_eq!(align("", 10, 3), "");
    }
}
