//! A parser for `/proc/<pid>/stat` that cannot panic.
//!
//! procfs 0.18 has a `Stat` parser, but it slices the line by index
//! (`buf[..start_paren - 1]`, `buf[end_paren + 2..]`) and panics on inputs
//! such as `(x) R` or `1 (x)`. A truncated or garbage file must give an
//! error, never a panic, so the crate reads the bytes through procfs and
//! parses the few fields it needs here. The layout is the one of proc(5):
//! `pid (comm) state ppid ...`, where `comm` may hold spaces and parentheses,
//! so fields are counted after the *last* `)`.

/// The largest `stat` file accepted. The kernel writes well under 1 KiB; a
/// larger file is garbage, and reading it whole would cost memory for nothing.
pub(crate) const MAX_STAT_BYTES: u64 = 64 * 1024;

/// The fields of `/proc/<pid>/stat` this crate uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawStat {
    pub(crate) pid: i32,
    pub(crate) comm: String,
    pub(crate) state: char,
    pub(crate) ppid: i32,
    pub(crate) utime: u64,
    pub(crate) stime: u64,
    pub(crate) num_threads: i64,
    pub(crate) starttime: u64,
    pub(crate) vsize: u64,
    pub(crate) rss_pages: u64,
}

impl RawStat {
    /// `utime + stime`.
    pub(crate) fn cpu_ticks(&self) -> Result<u64, String> {
        self.utime
            .checked_add(self.stime)
            .ok_or_else(|| format!("utime {} + stime {} overflows", self.utime, self.stime))
    }

    /// `rss` in bytes.
    pub(crate) fn rss_bytes(&self, page_size: u64) -> Result<u64, String> {
        self.rss_pages
            .checked_mul(page_size)
            .ok_or_else(|| format!("rss {} pages overflows in bytes", self.rss_pages))
    }
}

// Positions of the fields after `comm`, counted from 0 (field 3, `state`, is 0).
const STATE: usize = 0;
const PPID: usize = 1;
const UTIME: usize = 11;
const STIME: usize = 12;
const NUM_THREADS: usize = 17;
const STARTTIME: usize = 19;
const VSIZE: usize = 20;
const RSS: usize = 21;

/// Parses the content of a `stat` file. The error is a human reason.
pub(crate) fn parse_stat(bytes: &[u8]) -> Result<RawStat, String> {
    if bytes.len() as u64 > MAX_STAT_BYTES {
        return Err(format!("longer than {MAX_STAT_BYTES} bytes"));
    }
    let open = bytes
        .iter()
        .position(|&b| b == b'(')
        .ok_or("no '(' before the command name")?;
    let close = bytes
        .iter()
        .rposition(|&b| b == b')')
        .ok_or("no ')' after the command name")?;
    if close < open {
        return Err("')' before '('".to_owned());
    }
    let head = bytes.get(..open).ok_or("no pid field")?;
    let comm = bytes.get(open + 1..close).ok_or("no command name")?;
    let tail = bytes
        .get(close + 1..)
        .ok_or("no fields after the command name")?;

    let pid = std::str::from_utf8(head)
        .map_err(|_| "pid is not text".to_owned())?
        .trim()
        .parse::<i32>()
        .map_err(|e| format!("pid: {e}"))?;
    let tail =
        std::str::from_utf8(tail).map_err(|_| "fields after the command name are not text")?;
    let fields: Vec<&str> = tail.split_ascii_whitespace().collect();
    if fields.len() <= RSS {
        return Err(format!(
            "{} fields after the command name, at least {} needed",
            fields.len(),
            RSS + 1
        ));
    }

    let state_field = field_str(&fields, STATE, "state")?;
    let mut chars = state_field.chars();
    let state = match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_graphic() => c,
        _ => return Err(format!("state {state_field:?} is not one letter")),
    };

    Ok(RawStat {
        pid,
        comm: String::from_utf8_lossy(comm).into_owned(),
        state,
        ppid: field(&fields, PPID, "ppid")?,
        utime: field(&fields, UTIME, "utime")?,
        stime: field(&fields, STIME, "stime")?,
        num_threads: field(&fields, NUM_THREADS, "num_threads")?,
        starttime: field(&fields, STARTTIME, "starttime")?,
        vsize: field(&fields, VSIZE, "vsize")?,
        rss_pages: field(&fields, RSS, "rss")?,
    })
}

fn field_str<'a>(fields: &[&'a str], index: usize, name: &str) -> Result<&'a str, String> {
    fields
        .get(index)
        .copied()
        .ok_or_else(|| format!("{name} is missing"))
}

fn field<T>(fields: &[&str], index: usize, name: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = field_str(fields, index, name)?;
    text.parse().map_err(|e| format!("{name} {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A stat line the way the kernel writes it: 52 fields.
    fn line(pid: i32, comm: &str, state: char, ppid: i32, utime: u64, stime: u64) -> String {
        format!(
            "{pid} ({comm}) {state} {ppid} {pid} {pid} 0 -1 4194304 97 0 0 0 {utime} {stime} 0 0 20 0 \
             3 0 29874 3133440 381 18446744073709551615 94757527506944 94757527526825 \
             140732086721248 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94757527542832 94757527544448 \
             94757963313152 140732086729374 140732086729394 140732086729394 140732086730731 0\n"
        )
    }

    fn check_ok(input: &str, expected: (i32, &str, char, i32, u64)) {
        let stat = parse_stat(input.as_bytes()).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let got = (
            stat.pid,
            stat.comm.as_str(),
            stat.state,
            stat.ppid,
            stat.cpu_ticks().unwrap(),
        );
        assert_eq!(got, expected, "{input:?}");
    }

    fn check_err(input: &[u8], reason_contains: &str) {
        match parse_stat(input) {
            Ok(stat) => panic!("{:?} parsed as {stat:?}", String::from_utf8_lossy(input)),
            Err(reason) => assert!(
                reason.contains(reason_contains),
                "{:?}: reason {reason:?} lacks {reason_contains:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    #[test]
    fn parses_a_kernel_line() {
        let stat = parse_stat(line(3240, "cat", 'R', 3233, 5, 7).as_bytes()).unwrap();
        assert_eq!(
            stat,
            RawStat {
                pid: 3240,
                comm: "cat".to_owned(),
                state: 'R',
                ppid: 3233,
                utime: 5,
                stime: 7,
                num_threads: 3,
                starttime: 29874,
                vsize: 3_133_440,
                rss_pages: 381,
            }
        );
        assert_eq!(stat.rss_bytes(4096), Ok(381 * 4096));
    }

    #[test]
    fn command_names_with_spaces_and_parentheses() {
        check_ok(
            &line(5, "(a) b (c)", 'S', 1, 1, 2),
            (5, "(a) b (c)", 'S', 1, 3),
        );
        check_ok(&line(5, ") R 1", 'Z', 4, 0, 0), (5, ") R 1", 'Z', 4, 0));
        check_ok(&line(5, "", 'S', 1, 0, 9), (5, "", 'S', 1, 9));
        check_ok(&line(5, "a  b", 'D', 1, 0, 0), (5, "a  b", 'D', 1, 0));
        check_ok(&line(5, "ünï", 'S', 1, 0, 0), (5, "ünï", 'S', 1, 0));
    }

    #[test]
    fn only_the_oldest_fields_are_required() {
        // Up to rss (field 24) is enough, as on the oldest kernels.
        let short = "9 (x) S 1 9 9 0 -1 0 0 0 0 0 4 5 0 0 20 0 1 0 100 0 7";
        let stat = parse_stat(short.as_bytes()).unwrap();
        assert_eq!(
            (stat.cpu_ticks().unwrap(), stat.starttime, stat.rss_pages),
            (9, 100, 7)
        );
    }

    #[test]
    fn bad_lines() {
        check_err(b"", "no '('");
        check_err(b"garbage", "no '('");
        check_err(b"1 (x", "no ')'");
        check_err(b")(", "')' before '('");
        check_err(b"(x) R", "pid");
        check_err(b"1 (x)", "0 fields");
        check_err(b"1 (x) S 1 2", "3 fields");
        check_err(b"x (x) S", "pid");
        check_err(b"99999999999 (x) S", "pid");
        let full = line(5, "x", 'S', 1, 1, 2);
        let truncated = &full.as_bytes()[..full.find(" 29874").unwrap()];
        check_err(truncated, "19 fields after the command name");
        check_err(
            line(5, "x", 'S', 1, 1, 2).replace(" S ", " SS ").as_bytes(),
            "state",
        );
        check_err(
            line(5, "x", 'S', 1, 1, 2)
                .replace("S 1 5", "S one 5")
                .as_bytes(),
            "ppid",
        );
        check_err(
            line(5, "x", 'S', 1, 1, 2)
                .replace(" 1 2 0 0 20", " -1 2 0 0 20")
                .as_bytes(),
            "utime",
        );
        check_err(b"5 (x) S 1 \xff", "not text");
        check_err(&vec![b' '; 70_000], "longer than");
    }

    #[test]
    fn overflowing_sums_are_errors() {
        let stat = parse_stat(line(5, "x", 'S', 1, u64::MAX, 1).as_bytes()).unwrap();
        assert!(stat.cpu_ticks().is_err());
        let big =
            line(5, "x", 'S', 1, 1, 1).replace(" 3133440 381 ", " 3133440 18446744073709551615 ");
        let stat = parse_stat(big.as_bytes()).unwrap();
        assert!(stat.rss_bytes(4096).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_stat(&bytes);
        }

        #[test]
        fn never_panics_on_damaged_lines(cut in 0usize..400, junk in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut bytes = line(7, "w (x) y", 'S', 1, 2, 3).into_bytes();
            bytes.truncate(cut);
            bytes.extend_from_slice(&junk);
            let _ = parse_stat(&bytes);
        }

        #[test]
        fn round_trips_any_command_name(
            comm in "[^\n]{0,20}",
            pid in 1i32..4_194_304,
            ppid in 0i32..4_194_304,
            utime in 0u64..1 << 40,
            stime in 0u64..1 << 40,
        ) {
            let stat = parse_stat(line(pid, &comm, 'S', ppid, utime, stime).as_bytes()).unwrap();
            prop_assert_eq!(stat.pid, pid);
            prop_assert_eq!(&stat.comm, &comm);
            prop_assert_eq!(stat.ppid, ppid);
            prop_assert_eq!(stat.cpu_ticks(), Ok(utime + stime));
        }
    }
}
