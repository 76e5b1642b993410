//! Go's `text/tabwriter` (docker's fork in `cli/command/formatter/tabwriter`)
//! with a space pad character and no flags, the only way docker uses it.
//!
//! Cells are tab-*terminated*: the text after the last tab of a line is not
//! part of any column, which is why docker's tables have no trailing spaces.
//! A column is a run of consecutive lines that all have a cell in it; its
//! width is the widest cell plus `padding`, but at least `minwidth`.
//! Widths count chars (Go's upstream counts runes; docker's fork uses the
//! East-Asian display width, which only differs for wide glyphs).

struct Cell<'a> {
    text: &'a str,
    width: usize,
}

/// Aligns the tab-separated `text` the way `tabwriter.NewWriter(out,
/// minwidth, 1, padding, ' ', 0)` followed by `Flush` does.
pub fn align(text: &str, minwidth: usize, padding: usize) -> String {
    let mut segments: Vec<&str> = text.split('\n').collect();
    // The text after the final newline is a line only if it is non-empty;
    // Go's Flush terminates the pending cell only when it has content.
    let last = segments.pop().unwrap_or_default();
    let mut lines: Vec<Vec<Cell<'_>>> = segments.into_iter().map(cells).collect();
    let mut tail = if last.is_empty() {
        Vec::new()
    } else {
        cells(last)
    };
    if tail.last().is_some_and(|c| c.text.is_empty()) {
        tail.pop();
    }
    lines.push(tail);

    let writer = Writer {
        minwidth,
        padding,
        lines,
    };
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    writer.format(&mut widths, 0, writer.lines.len(), &mut out);
    out
}

fn cells(line: &str) -> Vec<Cell<'_>> {
    line.split('\t')
        .map(|text| Cell {
            text,
            width: text.chars().count(),
        })
        .collect()
}

struct Writer<'a> {
    minwidth: usize,
    padding: usize,
    lines: Vec<Vec<Cell<'a>>>,
}

impl Writer<'_> {
    /// Go's `Writer.format`: finds each block of lines sharing column
    /// `widths.len()`, sizes it, and recurses for the columns to its right.
    fn format(&self, widths: &mut Vec<usize>, mut line0: usize, line1: usize, out: &mut String) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            // The last cell of a line is not tab-terminated: not in a column.
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(widths, line0, this, out);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < self.lines[this].len() {
                width = width.max(self.lines[this][column].width + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format(widths, line0, this, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(widths, line0, line1, out);
    }

    fn write_lines(&self, widths: &[usize], line0: usize, line1: usize, out: &mut String) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                out.push_str(cell.text);
                if let Some(&w) = widths.get(j) {
                    out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.width)));
                }
            }
            // The last line is the text after the final newline.
            if i + 1 < self.lines.len() {
                out.push('\n');
            }
        }
    }
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
