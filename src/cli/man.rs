//! `orgsync man --dir DIR` (hidden): writes the man pages the Debian package installs, generated
//! from the clap definitions (orgsync(1) and one page per subcommand, `orgsync-sync.1`, …) and
//! orgsync.toml(5) from docs/orgsync.toml.5.md and README's configuration table. `orgsync completions SHELL` prints a completion
//! script from the same definitions.

mod config_page;

use super::{Cli, Exit, commands};
use clap::CommandFactory;
use std::path::Path;

/// The words of orgsync.toml(5); its KEYS section is README's configuration table.
const CONFIG_PAGE: &str = include_str!("../../docs/orgsync.toml.5.md");
/// Where README's table goes in `CONFIG_PAGE`.
const TABLE_MARK: &str = "<!-- README.md's configuration table is inserted here";
const README: &str = include_str!("../../README.md");

pub fn write_pages(dir: &Path) -> Exit {
    match write_all(dir) {
        Ok(count) => {
            println!("{count} man pages written to {}", dir.display());
            Exit::Ok
        }
        Err(e) => commands::fail(
            Exit::RunFailed,
            format!("cannot write the man pages to {}: {e}", dir.display()),
        ),
    }
}

fn write_all(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    // Pages named and titled after the command path (`orgsync-reports-list.1`); hidden
    // subcommands (this one) get none.
    clap_mangen::generate_to(Cli::command(), dir)?;
    let config = config_page::to_roff(&config_page_source(), env!("CARGO_PKG_VERSION"));
    std::fs::write(dir.join("orgsync.toml.5"), config)?;
    let mut count = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".1") || name.ends_with(".5") {
            count += 1;
        }
    }
    Ok(count)
}

/// docs/orgsync.toml.5.md with README's configuration table (its `| key | default | meaning |`
/// table) in place of the mark, so the page and README cannot drift apart.
fn config_page_source() -> String {
    let table: Vec<&str> = README
        .lines()
        .skip_while(|l| !l.starts_with("| key | default | meaning |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    CONFIG_PAGE
        .lines()
        .map(|line| {
            if line.starts_with(TABLE_MARK) {
                table.join("\n")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The completion script for `shell` on stdout.
pub fn print_completions(shell: clap_complete::Shell) -> Exit {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "orgsync", &mut std::io::stdout());
    Exit::Ok
}
