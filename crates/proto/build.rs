//! Compiles `proto/` (the API) and `storage/` (what the services keep in
//! their rows) with the pure-Rust protox (no system protoc), and writes the
//! API's descriptor set that server reflection serves.

use std::{env, fs, io, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto").canonicalize()?;
    let files = proto_files(&proto_root.join("trellis"))?;
    let storage_root = manifest_dir.join("../../storage").canonicalize()?;
    let storage_files = proto_files(&storage_root.join("trellis"))?;

    let fds = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("trellis_descriptor.bin"), fds.encode_to_vec())?;
    // Type names (`prost::Name`) let the CLI find a message's descriptor
    // from its Rust type, for proto3 JSON.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds_with_config(fds, config)?;

    // Storage messages are no part of the API: not in reflection's set.
    let storage_fds = protox::compile(&storage_files, [&storage_root])?;
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .compile_fds_with_config(storage_fds, config)?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed={}", storage_root.display());
    for file in files.iter().chain(&storage_files) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}

fn proto_files(dir: &PathBuf) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(proto_files(&path)?);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
