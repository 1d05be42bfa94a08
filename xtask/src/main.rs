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
  bench [--n 10,100,500] [--only free|quota] [--bounds] [--record]
                    the fleet benchmark (release build): makespan against the lower bound
                    and a naive baseline, API calls, throttling, peak memory, in a world
                    without manual quota and under real manual-snapshot quotas (R25);
                    --bounds prints the bounds only; --record writes docs/performance.md
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

/// `cargo` as this task was started with, in the workspace root.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(project_root());
    command
}

/// Runs `command` (a `cargo` from [`cargo`]) to the end; an error names `title` and how it
/// ended.
fn run(title: &str, command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("{title}: could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{title} failed ({status})"))
    }
}

/// The doc generators (`xtask/docgen`), which build snapshift in the dev profile: the task
/// runner itself depends on nothing, so `cargo xtask bench` builds the crate once.
fn codegen(args: &[&str]) -> Result<(), String> {
    run(
        "codegen",
        cargo()
            .args(["run", "--quiet", "--package", "docgen", "--"])
            .args(args),
    )
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
    run("cargo bench", cargo().args(&args))
        .map_err(|e| format!("{e}: the benchmark missed a target (see the table above)"))
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
        run(title, cargo().args(args))?;
    }
    // Every public item documented, every intra-doc link resolved.
    let title = "cargo doc --no-deps (RUSTDOCFLAGS=\"-D warnings\")";
    eprintln!("==> {title}");
    run(
        title,
        cargo()
            .args([
                "doc",
                "--no-deps",
                "--package",
                "snapshift",
                "--features",
                "testing",
            ])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    eprintln!("==> cargo xtask codegen --check");
    codegen(&["--check"])?;
    eprintln!("==> ci passed");
    Ok(())
}
