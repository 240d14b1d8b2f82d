//! Who holds a lake's compaction lock: the owner text written into the lock (file or
//! object), and whether its holder is a process of this host that has ended.

/// This machine's name, for lock owners.
pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map_or_else(|_| "unknown".to_owned(), |h| h.trim().to_owned())
}

/// This process's PID namespace (Linux), so that a PID is only judged where it means
/// the same process.
pub(super) fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Whether a lock names a process of this host and PID namespace that has ended
/// (killed or crashed): its lock can be taken over before it expires.
pub(super) fn holder_is_gone(text: &str) -> bool {
    let here = owner_field(text, "host") == Some(host_name().as_str())
        && pid_namespace().is_some_and(|ns| owner_field(text, "pidns") == Some(ns.as_str()));
    let pid = owner_field(text, "pid").and_then(|p| p.parse::<u32>().ok());
    here && pid.is_some_and(|p| p != std::process::id() && !crate::output::process_alive(p))
}

/// Who holds a lock, as written in it.
pub(super) fn owner_text(token: &str, expires: Option<jiff::Timestamp>) -> String {
    let host = host_name();
    let mut text = format!(
        "lakenode compact\nowner {token}\npid {}\nhost {host}\nsince {}\n",
        std::process::id(),
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now()),
    );
    if let Some(ns) = pid_namespace() {
        text.push_str(&format!("pidns {ns}\n"));
    }
    if let Some(t) = expires {
        text.push_str(&format!("expires {t}\n"));
    }
    text
}

/// A value of a lock's `name value` line.
pub(super) fn owner_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
}

/// The holder for a message: "pid P on host H since T".
pub(super) fn holder(text: &str) -> String {
    let f = |n| owner_field(text, n).unwrap_or("?");
    format!(
        "pid {} on host {} since {}",
        f("pid"),
        f("host"),
        f("since")
    )
}
