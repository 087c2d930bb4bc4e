//! `check --junit FILE`: the report as JUnit XML, the test-report format CI systems (GitLab,
//! Jenkins, GitHub test reporters, Buildkite) list failures from. One `<testcase>` per
//! comparison (hash, band, science claim, test of the paper), named by what was compared, with
//! a `<failure>` that gives expected, got and band; notes go to `<system-out>`.
use super::Report;

/// `s` escaped for XML text and attribute values (characters XML 1.0 cannot hold are dropped).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn document(suite: &str, tests: usize, failures: usize, errors: usize, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"three-factors check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n\
         <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">\n\
         {body}</testsuite>\n</testsuites>\n",
        esc(suite)
    )
}

/// `fig3.smoke` for `golden/fig3/smoke.toml`: the prefix of the test cases' class names.
fn prefix(suite: &str) -> String {
    let p = std::path::Path::new(suite);
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    match p.parent().and_then(|d| d.file_name()) {
        Some(d) => format!("{}.{stem}", d.to_string_lossy()),
        None => stem.into_owned(),
    }
}

/// The report of checking against the golden file `suite` (its path, as `check` prints it):
/// test cases are named `<experiment>.<profile>.<subject>` / `<quantity>`.
pub fn report(suite: &str, r: &Report) -> String {
    let mut body = String::new();
    let mut failures = 0;
    let prefix = prefix(suite);
    for f in &r.findings {
        let classname = esc(&format!("{prefix}.{}", f.subject));
        let name = esc(&f.quantity);
        if f.ok {
            body += &format!("<testcase classname=\"{classname}\" name=\"{name}\"/>\n");
        } else {
            failures += 1;
            let msg = format!("expected {}, got {} ({})", f.expected, f.got, f.band);
            body += &format!(
                "<testcase classname=\"{classname}\" name=\"{name}\">\n\
                 <failure message=\"{}\" type=\"regression\">{}: {} {}</failure>\n</testcase>\n",
                esc(&msg),
                esc(&f.subject),
                esc(&f.quantity),
                esc(&msg)
            );
        }
    }
    if !r.notes.is_empty() {
        body += &format!("<system-out>{}</system-out>\n", esc(&r.notes.join("\n")));
    }
    document(suite, r.findings.len(), failures, 0, &body)
}

/// A check that could not run (unreadable artifact, invalid golden file): one errored case.
pub fn error(suite: &str, message: &str) -> String {
    let body = format!(
        "<testcase classname=\"{}\" name=\"check\">\n<error message=\"{}\" type=\"error\">{}</error>\n</testcase>\n",
        esc(suite),
        esc(message.lines().next().unwrap_or("")),
        esc(message)
    );
    document(suite, 1, 0, 1, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_failure_is_escaped_everywhere() {
        let r = Report {
            findings: vec![super::super::Finding {
                subject: "A<B & C".into(),
                quantity: "contrast".into(),
                expected: "A < B, p ≤ 0.05".into(),
                got: "A > B & p = 0.2".into(),
                band: "\"one-sided\"".into(),
                ok: false,
            }],
            notes: vec!["<note>".into()],
        };
        let xml = report("golden/table1/smoke.toml", &r);
        assert!(!xml.contains("A < B") && !xml.contains("A > B") && !xml.contains("<note>"));
        assert!(
            xml.contains("expected A &lt; B, p ≤ 0.05, got A &gt; B &amp; p = 0.2"),
            "{xml}"
        );
        assert!(
            xml.contains("classname=\"table1.smoke.A&lt;B &amp; C\""),
            "{xml}"
        );
    }

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_hold() {
        assert_eq!(
            esc("a<b & \"c\" 'd'>\u{1}\n"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\n"
        );
    }
}
