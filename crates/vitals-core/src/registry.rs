//! Automatic registration of sections with `inventory`, and the resources their factories take.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::section::Section;

/// A typed resource map handed to section factories.
///
/// Entries are keyed by their type, typically an `Arc<dyn …Source>`:
///
/// ```
/// use std::sync::Arc;
/// use vitals_core::Resources;
///
/// trait Greeter: Send + Sync { fn hello(&self) -> &'static str; }
/// struct English;
/// impl Greeter for English { fn hello(&self) -> &'static str { "hello" } }
///
/// let resources = Resources::new().with::<Arc<dyn Greeter>>(Arc::new(English));
/// let greeter = resources.get::<Arc<dyn Greeter>>().unwrap();
/// assert_eq!(greeter.hello(), "hello");
/// assert!(resources.get::<Arc<String>>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct Resources {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resources")
            .field("entries", &self.map.len())
            .finish()
    }
}

impl Resources {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the resource of type `T`.
    pub fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// Adds (or replaces) the resource of type `T`, builder style.
    #[must_use]
    pub fn with<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.insert(value);
        self
    }

    /// A clone of the resource of type `T`, if present.
    #[must_use]
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
    }

    /// Whether a resource of type `T` is present.
    #[must_use]
    pub fn contains<T: 'static>(&self) -> bool {
        self.map.contains_key(&TypeId::of::<T>())
    }
}

/// Builds a section from resources, or nothing when its resource is absent.
pub type SectionFactory = fn(&Resources) -> Option<Box<dyn Section>>;

/// A section registered with [`register_section!`](crate::register_section).
///
/// The registry is how a host gets "every section linked into this binary"
/// without naming each one ([`AssemblerBuilder::registered`](crate::AssemblerBuilder::registered)).
#[derive(Debug)]
pub struct SectionDescriptor {
    /// The section's name (by convention, the key it fills).
    pub name: &'static str,
    /// Its output order (see [`Section::order`]); the section is placed with this order.
    pub order: i32,
    /// The factory.
    pub factory: SectionFactory,
}

impl SectionDescriptor {
    /// A descriptor, usable in a `const` context (which `inventory` needs).
    #[must_use]
    pub const fn new(name: &'static str, order: i32, factory: SectionFactory) -> Self {
        Self {
            name,
            order,
            factory,
        }
    }
}

inventory::collect!(SectionDescriptor);

/// Every registered descriptor, sorted by order then name.
///
/// Only crates the final binary links are seen: a crate nothing references
/// is dropped by the linker along with its registrations (the `vitals`
/// facade names every built-in crate for this reason).
#[must_use]
pub fn registered() -> Vec<&'static SectionDescriptor> {
    let mut all: Vec<_> = inventory::iter::<SectionDescriptor>.into_iter().collect();
    all.sort_by(|a, b| a.order.cmp(&b.order).then(a.name.cmp(b.name)));
    all
}

/// Registers a section factory in the global registry.
///
/// ```
/// use std::sync::Arc;
/// use vitals_core::{register_section, Resources, Section};
/// # use vitals_core::{async_trait, Collect, Fallback, SectionError, SectionValue};
/// # #[derive(Debug)] struct Disk(String);
/// # #[async_trait] impl Section for Disk {
/// #     fn key(&self) -> &str { "disk" }
/// #     fn fallback(&self) -> Fallback { Fallback::Null }
/// #     async fn collect(&self, _: &Collect) -> Result<SectionValue, SectionError> { Ok(SectionValue::null()) }
/// # }
///
/// /// The path whose disk we watch, handed over as a resource.
/// #[derive(Clone)]
/// struct DiskPath(Arc<str>);
///
/// fn disk_factory(resources: &Resources) -> Option<Box<dyn Section>> {
///     let path = resources.get::<DiskPath>()?;
///     Some(Box::new(Disk(path.0.to_string())))
/// }
///
/// register_section!("disk", 100, disk_factory);
///
/// assert!(vitals_core::registered().iter().any(|d| d.name == "disk"));
/// ```
#[macro_export]
macro_rules! register_section {
    ($name:expr, $order:expr, $factory:expr $(,)?) => {
        $crate::inventory::submit! {
            $crate::SectionDescriptor::new($name, $order, $factory)
        }
    };
}
