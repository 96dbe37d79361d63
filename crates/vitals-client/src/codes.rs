//! The contract's string codes as enums that keep codes they do not know.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a string-coded enum: known codes as unit variants, any other
/// code kept verbatim in `Other` (the contract may add codes without a
/// version bump, so an unknown code is a value, not an error).
macro_rules! string_code {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A code this version of the crate does not know, verbatim.
            Other(String),
        }

        impl $name {
            /// The code as it appears in the JSON.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $code, )+
                    Self::Other(code) => code,
                }
            }

            /// The variant of `code` (`Other` for an unknown code).
            #[must_use]
            pub fn from_code(code: &str) -> Self {
                match code {
                    $( $code => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let code = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok(Self::from_code(&code))
            }
        }
    };
}

string_code! {
    /// How reading an agent's process went (`agents[].proc_status`).
    pub enum ProcStatus {
        /// The process was read (a zombie too: see `state`).
        Ok => "ok",
        /// The job has no pid.
        NoPid => "no_pid",
        /// No such process: it is dead.
        NoSuchProcess => "no_such_process",
        /// The pid is not a valid process id (not positive, above `pid_max`).
        InvalidPid => "invalid_pid",
        /// The process's files are not readable by the collector.
        PermissionDenied => "permission_denied",
        /// The process's `stat` could not be parsed.
        Unparsable => "unparsable",
        /// Another I/O failure.
        Io => "io",
        /// The collector's platform has no process facts.
        Unsupported => "unsupported",
        /// Reading the process panicked in the collector.
        Panic => "panic",
        /// Reading the process took too long.
        Timeout => "timeout",
    }
}

string_code! {
    /// A section's status in the meta section (`collector.sections.<key>.status`).
    pub enum SectionStatus {
        /// The section's value is complete.
        Ok => "ok",
        /// The value is there; some of its fields fell back (see `fields`).
        Degraded => "degraded",
        /// The section failed; its value is the fallback (`null`, `[]`).
        Error => "error",
        /// The section panicked; its value is the fallback.
        Panic => "panic",
        /// The section missed its deadline; its value is the fallback.
        Timeout => "timeout",
        /// A previous run of the section is still in flight; fallback value.
        Busy => "busy",
    }
}

impl SectionStatus {
    /// Whether the section's value is its fallback, not real data
    /// (`error`, `panic`, `timeout`, `busy`, or a code this crate does not know).
    #[must_use]
    pub fn is_fallback(&self) -> bool {
        !matches!(self, SectionStatus::Ok | SectionStatus::Degraded)
    }
}
