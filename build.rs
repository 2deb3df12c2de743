//! Generates the kessai.v1 types and service from `proto/` with a pure-Rust
//! protobuf compiler, so building needs no `protoc` on the machine.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/kessai/v1/payment.proto";
    println!("cargo:rerun-if-changed=proto");

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_file(proto)?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
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
