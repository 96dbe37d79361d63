//! [`AssemblerBuilder`]: composes a section set and validates it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::assembler::conditions::DEFAULT_LOG_REMINDER;
use crate::assembler::run::{Inner, Slot};
use crate::assembler::snapshot::RESERVED_KEYS;
use crate::assembler::{Assembler, DEFAULT_DEADLINE};
use crate::clock::{Clock, SystemClock};
use crate::error::BuildError;
use crate::kill_switch::KillSwitch;
use crate::registry::{Resources, SectionDescriptor, registered};
use crate::section::Section;

/// Where `clk_tck` comes from when the builder is told.
pub(crate) type ClkTckProvider = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// Composes an [`Assembler`]: sections by hand or from the registry, clock, deadlines.
pub struct AssemblerBuilder {
    entries: Vec<(i32, Arc<dyn Section>)>,
    clock: Arc<dyn Clock>,
    clk_tck: Option<ClkTckProvider>,
    kill: KillSwitch,
    default_deadline: Duration,
    min_interval: Duration,
    log_reminder: Duration,
}

impl fmt::Debug for AssemblerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssemblerBuilder")
            .field(
                "sections",
                &self
                    .entries
                    .iter()
                    .map(|(_, s)| s.key())
                    .collect::<Vec<_>>(),
            )
            .field("clock", &self.clock)
            .field("clk_tck", &self.clk_tck.as_ref().map(|_| "set"))
            .field("default_deadline", &self.default_deadline)
            .field("min_interval", &self.min_interval)
            .field("log_reminder", &self.log_reminder)
            .finish_non_exhaustive()
    }
}

impl Default for AssemblerBuilder {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            clock: Arc::new(SystemClock),
            clk_tck: None,
            kill: KillSwitch::default(),
            default_deadline: DEFAULT_DEADLINE,
            min_interval: Duration::ZERO,
            log_reminder: DEFAULT_LOG_REMINDER,
        }
    }
}

impl AssemblerBuilder {
    /// Adds a section, ordered by its own [`Section::order`].
    #[must_use]
    pub fn section(self, section: impl Section) -> Self {
        let order = section.order();
        self.section_at(order, section)
    }

    /// Adds a section at an explicit order.
    #[must_use]
    pub fn section_at(mut self, order: i32, section: impl Section) -> Self {
        self.entries.push((order, Arc::new(section)));
        self
    }

    /// Adds every registered section whose factory finds its resources in
    /// `resources` (see [`register_section!`](crate::register_section)).
    #[must_use]
    pub fn registered(self, resources: &Resources) -> Self {
        self.descriptors(registered(), resources)
    }

    /// Adds the section of each descriptor whose factory finds its resources
    /// in `resources`, at the descriptor's order: an explicit list, for hosts
    /// that want to name their set rather than take whatever is linked.
    ///
    /// A factory that finds no resource builds nothing, and its section is
    /// simply not in the set (a host without a queue has no `queue`); this
    /// is logged at debug level, and [`Assembler::keys`] lists what was built.
    #[must_use]
    pub fn descriptors<'a>(
        mut self,
        descriptors: impl IntoIterator<Item = &'a SectionDescriptor>,
        resources: &Resources,
    ) -> Self {
        for descriptor in descriptors {
            match (descriptor.factory)(resources) {
                Some(section) => self.entries.push((descriptor.order, Arc::from(section))),
                None => tracing::debug!(
                    section = descriptor.name,
                    "vitals section left out: its factory found no resource for it"
                ),
            }
        }
        self
    }

    /// The clock each snapshot reads its instant from (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where `clk_tck` comes from, overriding the sections.
    ///
    /// By default the envelope's `clk_tck` is the first one a section
    /// supplies through [`Section::header`] (the agents section reports its
    /// process source's), or `null` when none does; a host rarely needs this.
    #[must_use]
    pub fn clk_tck(mut self, provider: impl Fn() -> Option<u64> + Send + Sync + 'static) -> Self {
        self.clk_tck = Some(Arc::new(provider));
        self
    }

    /// Uses `switch` as the kill switch (default: a new switch, on).
    #[must_use]
    pub fn kill_switch(mut self, switch: KillSwitch) -> Self {
        self.kill = switch;
        self
    }

    /// The deadline of sections that do not set their own (default [`DEFAULT_DEADLINE`]).
    #[must_use]
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        self.default_deadline = deadline;
        self
    }

    /// Minimum interval between builds: a call within it of the previous
    /// build's end gets that snapshot again (default zero: always build).
    #[must_use]
    pub fn min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    /// How often a condition that lasts (a section that keeps failing, a
    /// field that keeps degrading) is logged again (default
    /// [`DEFAULT_LOG_REMINDER`], ten minutes).
    ///
    /// A condition (a section, one of its fields or the section as a whole,
    /// and the kind of failure) is logged at warning level when it appears
    /// and at info level when it clears; while it lasts, a warning at most
    /// once per `interval` gives the number of occurrences since the last
    /// line. Every occurrence is in the snapshot's `collector` section and
    /// logged at debug level. `Duration::ZERO` logs a reminder on every
    /// build; `Duration::MAX` never.
    #[must_use]
    pub fn log_reminder(mut self, interval: Duration) -> Self {
        self.log_reminder = interval;
        self
    }

    /// Validates the section set and builds the assembler.
    ///
    /// # Errors
    ///
    /// [`BuildError::EmptyKey`], [`BuildError::ReservedKey`] or
    /// [`BuildError::DuplicateKey`] for the first offending section.
    pub fn build(self) -> Result<Assembler, BuildError> {
        let mut slots: Vec<Slot> = Vec::with_capacity(self.entries.len());
        for (order, section) in self.entries {
            let key = section.key().to_owned();
            if key.trim().is_empty() {
                return Err(BuildError::EmptyKey);
            }
            if RESERVED_KEYS.contains(&key.as_str()) {
                return Err(BuildError::ReservedKey { key });
            }
            if slots.iter().any(|s| s.key == key) {
                return Err(BuildError::DuplicateKey { key });
            }
            slots.push(Slot::new(key, order, section));
        }
        slots.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.key.cmp(&b.key)));
        Ok(Assembler {
            inner: Arc::new(Inner::new(
                slots,
                self.clock,
                self.clk_tck,
                self.kill,
                self.default_deadline,
                self.min_interval,
                self.log_reminder,
            )),
        })
    }
}
