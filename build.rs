//! Generates the kessai.v1 types and service from `proto/` with a pure-Rust
//! protobuf compiler, so building needs no `protoc` on the machine.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "kessai/v1/payment.proto";
    println!("cargo:rerun-if-changed=proto");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let root = match std::env::var_os("CARGO_FEATURE_EXAMPLE_PROVIDER") {
        Some(_) => augmented(proto, &out_dir)?,
        None => PathBuf::from("proto"),
    };
    let mut compiler = protox::Compiler::new([root])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_file(proto)?;

    // The descriptor set (with comments) serves gRPC reflection.
    std::fs::write(
        out_dir.join("kessai_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Card carries a PAN and a CVC: it gets a redacting Debug by hand.
        .skip_debug(["kessai.v1.Card"])
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

/// The published contract with the test-only example provider's sections
/// (`proto/testing/example_provider.proto.in`) inserted, written under
/// OUT_DIR, so `proto/` itself (what buf checks and callers build from)
/// never holds them. Returns the include root of the copy.
fn augmented(proto: &str, out_dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let mut text = std::fs::read_to_string(Path::new("proto").join(proto))?;
    let snippet = std::fs::read_to_string("proto/testing/example_provider.proto.in")?;
    for section in snippet.split("// @after ").skip(1) {
        let (anchor, body) = section.split_once('\n').ok_or("an empty section")?;
        if anchor == "end" {
            text.push('\n');
            text.push_str(body);
            continue;
        }
        let at = text
            .find(anchor)
            .ok_or_else(|| format!("payment.proto has no line `{anchor}`"))?;
        let line_end = at + text[at..].find('\n').ok_or("no line end")? + 1;
        text.insert_str(line_end, body.trim_end_matches('\n'));
        text.insert(line_end + body.trim_end_matches('\n').len(), '\n');
    }
    let root = out_dir.join("proto");
    let path = root.join(proto);
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    std::fs::write(path, text)?;
    Ok(root)
}
