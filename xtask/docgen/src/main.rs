//! Writes the generated docs (`docs/key-policies`, `docs/iam`, `docs/rules.md`,
//! `examples/README.md`) from the crate's builders, or with `--check` fails naming each stale
//! file. Run through `cargo xtask codegen [--check]`.

mod codegen;
mod docs;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => codegen::Mode::Write,
        ["--check"] => codegen::Mode::Check,
        other => {
            eprintln!("docgen: unknown arguments `{}`", other.join(" "));
            return ExitCode::from(2);
        }
    };
    match codegen::run(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("docgen: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (two levels above `xtask/docgen/`).
pub(crate) fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
