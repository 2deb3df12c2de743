//! The documentation, held to what kessai does: every command it shows is
//! run by a test (`commands.rs` runs the README's and `docs/`'s,
//! `examples.rs` the client examples'), every sandbox test value does what
//! its row says (`sandbox_values.rs`), and the catalogues — error reasons,
//! event types, what each provider supports — list what the code has
//! (`catalogues.rs`).

mod catalogues;
mod commands;
mod sandbox_values;
mod server;

use std::path::{Path, PathBuf};

/// A fenced code block of a Markdown file.
#[derive(Debug, Clone)]
pub struct Block {
    /// The file, relative to the repository.
    pub file: String,
    /// The heading the block sits under.
    pub section: String,
    /// The fence's language (`sh`, `text`, …).
    pub lang: String,
    pub script: String,
    /// Its first line in the file (1-based), for messages.
    pub line: usize,
}

impl Block {
    /// Whether the block holds commands to type (the others show output or
    /// configuration).
    pub fn is_commands(&self) -> bool {
        matches!(self.lang.as_str(), "sh" | "bash" | "shell" | "console")
    }

    pub fn place(&self) -> String {
        format!("{}:{} (under {:?})", self.file, self.line, self.section)
    }
}

/// A finished command's exit status and output, for a failure's message.
pub fn show(output: &std::process::Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every fenced block of `file` (relative to the repository), in order.
pub fn blocks(file: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut current: Option<Block> = None;
    for (index, line) in text.lines().enumerate() {
        match current.as_mut() {
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.script.push_str(line);
                block.script.push('\n');
            }
            None => {
                if let Some(lang) = line.trim_end().strip_prefix("```") {
                    current = Some(Block {
                        file: file.to_owned(),
                        section: section.clone(),
                        lang: lang.trim().to_owned(),
                        script: String::new(),
                        line: index + 1,
                    });
                } else if let Some(heading) = line.strip_prefix('#') {
                    section = heading.trim_start_matches('#').trim().to_owned();
                }
            }
        }
    }
    assert!(current.is_none(), "an unclosed code block in {file}");
    blocks
}

/// The documentation whose commands the tests run: the README, `docs/`
/// (the providers' own pages included) and the examples' READMEs.
pub fn documented_files() -> Vec<String> {
    let mut files = vec!["README.md".to_owned()];
    let mut dirs = vec![repo().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("docs/") {
            let path = entry.expect("a docs/ entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(relative(&path));
            }
        }
    }
    for example in std::fs::read_dir(repo().join("examples")).expect("examples/") {
        let readme = example
            .expect("an examples/ entry")
            .path()
            .join("README.md");
        if readme.exists() {
            files.push(relative(&readme));
        }
    }
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .expect("inside the repository")
        .to_string_lossy()
        .into_owned()
}

/// Whether CI runs this block: each of its commands is a line of `.ci/run`
/// (or is `.ci/run` itself).
fn run_by_ci(block: &Block) -> bool {
    let ci = std::fs::read_to_string(repo().join(".ci/run")).expect(".ci/run");
    let ci: Vec<&str> = ci.lines().map(str::trim).collect();
    block
        .script
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .all(|line| line == "bash .ci/run" || ci.contains(&line))
}

/// Commands that need what no test has: a Kubernetes cluster and a
/// container registry (`helm/test.sh` renders and validates the chart
/// instead).
const NEED_A_CLUSTER: &[(&str, &str)] = &[
    (
        "docs/deployment.md",
        "kubectl -n payments create secret generic kessai-secrets",
    ),
    (
        "docs/deployment.md",
        "helm upgrade --install kessai helm/kessai -n payments",
    ),
];

#[test]
fn every_documented_command_is_run_by_a_test() {
    let mut unclaimed = Vec::new();
    let mut by_ci = 0;
    for file in documented_files() {
        for block in blocks(&file).into_iter().filter(Block::is_commands) {
            if commands::runs(&block)
                || crate::examples::runs(&block)
                || crate::health_addr::runs(&block)
            {
                continue;
            }
            if run_by_ci(&block) {
                by_ci += 1;
                continue;
            }
            if NEED_A_CLUSTER
                .iter()
                .any(|(f, command)| *f == block.file && block.script.contains(command))
            {
                continue;
            }
            unclaimed.push(block.place());
        }
    }
    assert!(
        unclaimed.is_empty(),
        "command blocks no test runs (run them in tests/it/docs/commands.rs, or show output as ```text): {unclaimed:#?}"
    );
    assert!(
        by_ci >= 2,
        "`cargo test` and CI's own commands are documented"
    );
}

#[test]
fn the_readme_stays_short_and_its_test_command_is_what_ci_runs() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines: move detail into docs/"
    );
    let test_block = blocks("README.md")
        .into_iter()
        .find(|b| b.script.trim() == "cargo test")
        .expect("the README shows the test command");
    assert!(run_by_ci(&test_block), "CI runs the README's test command");
}

/// Every relative link of the documentation leads to a file that exists
/// and, with a `#fragment`, to a heading of it.
#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut files = documented_files();
    files.extend(["ARCHITECTURE.md".to_owned(), "BENCHMARKS.md".to_owned()]);
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(repo().join(file)).expect("a documented file");
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (target.as_str(), None),
            };
            let linked = if path.is_empty() {
                PathBuf::from(file)
            } else {
                normalize(&dir.join(path))
            };
            if !repo().join(&linked).exists() {
                broken.push(format!("{file}: {target} (no {})", linked.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                let text = std::fs::read_to_string(repo().join(&linked)).unwrap_or_default();
                if !anchors(&text).iter().any(|a| a == fragment) {
                    broken.push(format!("{file}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

/// The targets of `[text](target)` links outside code.
fn links(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// The anchors GitHub makes of a file's headings: lower case, punctuation
/// but `-` and `_` dropped, spaces as `-`.
fn anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str()),
        }
    }
    parts.iter().collect()
}
