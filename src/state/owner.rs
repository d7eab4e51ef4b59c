//! Who holds the state directory: written by the process that took the database lock, read by
//! the next one that finds it taken, so the error can say which process to wait for or stop.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub(super) const OWNER_FILE: &str = "owner";

/// The process holding the state directory's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// The orgsync command it runs (`run`, `sync hq`, …), without options.
    pub command: String,
}

impl Owner {
    pub fn current() -> Self {
        Owner {
            pid: std::process::id(),
            command: command_of(std::env::args().skip(1)),
        }
    }

    /// Notes this owner in `dir` (0600; replaced atomically, so a reader never sees half of it).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let temporary = dir.join(format!("{OWNER_FILE}.{}", self.pid));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        writeln!(file, "pid {}\ncommand {}", self.pid, self.command)?;
        std::fs::rename(&temporary, dir.join(OWNER_FILE))
    }

    /// The owner noted in `dir`, if it is still alive (a stale note from a process that has
    /// ended says nothing).
    pub fn read(dir: &Path) -> Option<Owner> {
        let text = std::fs::read_to_string(dir.join(OWNER_FILE)).ok()?;
        let mut pid = None;
        let mut command = String::new();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("pid", value)) => pid = value.trim().parse().ok(),
                Some(("command", value)) => command = value.trim().to_owned(),
                _ => {}
            }
        }
        let pid = pid?;
        Path::new(&format!("/proc/{pid}"))
            .exists()
            .then_some(Owner { pid, command })
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.command.is_empty() {
            write!(f, "process {}", self.pid)
        } else {
            write!(f, "process {} (`orgsync {}`)", self.pid, self.command)
        }
    }
}

/// The subcommand and its plain arguments: options (and the values of `--config`-like options)
/// are left out, and so is anything that is not printable, so the note stays short and plain.
fn command_of(args: impl Iterator<Item = String>) -> String {
    let mut words = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        if let Some(option) = arg.strip_prefix('-') {
            // `--config FILE`: the next word is the option's value (the CLI's options that take
            // one, in their spaced form).
            skip_value = !option.contains('=')
                && matches!(
                    option,
                    "-config"
                        | "-log"
                        | "-save"
                        | "-format"
                        | "-limit"
                        | "-upstream"
                        | "-people"
                        | "-seed"
                        | "-html"
                        | "-target"
                );
            continue;
        }
        if arg.chars().all(|c| c.is_ascii_graphic()) && words.len() < 4 {
            words.push(arg);
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_keeps_subcommand_and_names_only() {
        let args = [
            "--config",
            "/etc/orgsync.toml",
            "sync",
            "hq",
            "--wait",
            "--format=json",
        ];
        assert_eq!(command_of(args.iter().map(|s| s.to_string())), "sync hq");
        let args = ["--config", "x.toml", "snapshot", "rebuild", "hq"];
        assert_eq!(
            command_of(args.iter().map(|s| s.to_string())),
            "snapshot rebuild hq"
        );
    }

    #[test]
    fn a_note_from_a_live_process_is_read_back_and_a_dead_one_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner {
            pid: std::process::id(),
            command: "run".into(),
        };
        me.write(dir.path()).unwrap();
        assert_eq!(Owner::read(dir.path()), Some(me));
        Owner {
            pid: u32::MAX - 1,
            command: "sync hq".into(),
        }
        .write(dir.path())
        .unwrap();
        assert_eq!(Owner::read(dir.path()), None);
    }
}
