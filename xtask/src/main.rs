//! `cargo xtask`: the project's own tasks. Run with no argument for the list.

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

const HELP: &str = "\
cargo xtask <task>

Tasks:
  codegen           write the generated docs (docs/key-policies, docs/iam, docs/rules.md,
                    examples/README.md) from the crate's builders
  codegen --check   fail, naming each file, if a generated file is stale
  ci                everything CI checks, in order: fmt, clippy, nextest, doc tests,
                    a smoke run of the fleet benchmark, rustdoc with warnings denied,
                    and codegen --check
  bench [--n 10,100,500] [--record]
                    the fleet benchmark (release build): makespan against the lower bound
                    and a naive baseline, API calls, throttling, peak memory; --record
                    writes docs/performance.md
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["help" | "--help" | "-h"] => {
            print!("{HELP}");
            Ok(())
        }
        ["codegen"] => codegen(&[]),
        ["codegen", "--check"] => codegen(&["--check"]),
        ["ci"] => ci(),
        ["bench", rest @ ..] => bench(rest),
        _ => Err(format!("unknown task `{}`\n\n{HELP}", args.join(" "))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo` as this task was started with.
fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The doc generators (`xtask/docgen`), which build snapshift in the dev profile: the task
/// runner itself depends on nothing, so `cargo xtask bench` builds the crate once.
fn codegen(args: &[&str]) -> Result<(), String> {
    let status = cargo()
        .args(["run", "--quiet", "--package", "docgen", "--"])
        .args(args)
        .current_dir(project_root())
        .status()
        .map_err(|e| format!("cargo run --package docgen: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("codegen failed ({status})"))
    }
}

/// The workspace root (the parent of `xtask/`).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The fleet benchmark in the bench profile (`benches/fleet/`).
fn bench(rest: &[&str]) -> Result<(), String> {
    let mut args: Vec<String> = ["bench", "--package", "snapshift", "--bench", "fleet", "--"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for arg in rest {
        if *arg == "--record" {
            args.push("--record".into());
            args.push(
                project_root()
                    .join("docs/performance.md")
                    .display()
                    .to_string(),
            );
        } else {
            args.push((*arg).to_owned());
        }
    }
    let status = cargo()
        .args(&args)
        .current_dir(project_root())
        .status()
        .map_err(|e| format!("cargo bench: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("the benchmark missed a target (see the table above)".into())
    }
}

/// Runs every check CI runs, in order, stopping at the first failure.
fn ci() -> Result<(), String> {
    let steps: [(&str, &[&str]); 5] = [
        ("cargo fmt --check", &["fmt", "--all", "--check"]),
        (
            "cargo clippy --workspace --all-targets -- -D warnings",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        (
            "cargo nextest run --workspace",
            &["nextest", "run", "--workspace"],
        ),
        (
            "cargo test --doc",
            &["test", "--doc", "--package", "snapshift"],
        ),
        (
            "cargo test --bench fleet -- --smoke (the fleet benchmark, N = 10, debug build)",
            &[
                "test",
                "--package",
                "snapshift",
                "--bench",
                "fleet",
                "--",
                "--smoke",
            ],
        ),
    ];
    for (title, args) in steps {
        eprintln!("==> {title}");
        let status = cargo()
            .args(args)
            .current_dir(project_root())
            .status()
            .map_err(|e| format!("{title}: could not start cargo: {e}"))?;
        if !status.success() {
            return Err(format!("{title} failed ({status})"));
        }
    }
    // Every public item documented, every intra-doc link resolved.
    let title = "cargo doc --no-deps (RUSTDOCFLAGS=\"-D warnings\")";
    eprintln!("==> {title}");
    let status = cargo()
        .args([
            "doc",
            "--no-deps",
            "--package",
            "snapshift",
            "--features",
            "testing",
        ])
        .env("RUSTDOCFLAGS", "-D warnings")
        .current_dir(project_root())
        .status()
        .map_err(|e| format!("{title}: could not start cargo: {e}"))?;
    if !status.success() {
        return Err(format!("{title} failed ({status})"));
    }
    eprintln!("==> cargo xtask codegen --check");
    codegen(&["--check"])?;
    eprintln!("==> ci passed");
    Ok(())
}
