//! What the process does to itself before anything else: orgsync holds upstream secrets and
//! tokens in memory and writes names and e-mail addresses to disk.

/// Called first in `main`, before the runtime's threads exist:
/// - umask 0077: every file and socket orgsync creates is its user's alone from the start (the
///   admin socket is widened to its group afterwards, never the other way round). Set once here,
///   since changing it around one call would race files created on other threads.
/// - no core dumps and not dumpable: a crash, or the watchdog's SIGABRT, must not write the
///   secrets in memory to disk, and other processes of the same user may not read its memory.
pub fn harden() {
    // SAFETY: umask, setrlimit and prctl only change this process's own attributes; none of them
    // touches memory we own.
    unsafe {
        libc::umask(0o077);
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}
