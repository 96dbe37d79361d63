//! [`Canned`]: the stored answer of a fake source, shared by every fake.
//!
//! A fake source answers what a test told it, or fails the way it was told,
//! as many times as it is asked, and counts the calls. Each section crate's
//! `fake` module builds its fakes from one `Canned` per method.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::error::{ErrorInfo, SectionError};

/// A canned answer: a value to hand out (cloned) or a failure to raise (a
/// fresh [`SectionError`] each call), changeable while the fake is shared
/// behind an `Arc`, with a call counter.
///
/// ```
/// use vitals_core::fake::Canned;
///
/// let rows = Canned::new(vec![1, 2]);
/// assert_eq!(rows.answer().unwrap(), [1, 2]);
/// rows.set_error("io", "disk gone");
/// let error = rows.answer().unwrap_err();
/// assert_eq!((error.kind(), error.message().as_str()), ("io", "disk gone"));
/// assert_eq!(rows.calls(), 2);
/// ```
pub struct Canned<T> {
    answer: Mutex<Result<T, ErrorInfo>>,
    calls: AtomicUsize,
}

impl<T: Clone> Canned<T> {
    /// Answers `value`.
    #[must_use]
    pub fn new(value: T) -> Self {
        Self {
            answer: Mutex::new(Ok(value)),
            calls: AtomicUsize::new(0),
        }
    }

    /// Fails with `SectionError::msg(kind, message)`.
    #[must_use]
    pub fn failing(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            answer: Mutex::new(Err(ErrorInfo::new(kind, message))),
            calls: AtomicUsize::new(0),
        }
    }

    /// The answer of one call (counted).
    ///
    /// # Errors
    ///
    /// The stored failure, as a fresh [`SectionError`].
    pub fn answer(&self) -> Result<T, SectionError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match &*self.answer.lock().unwrap_or_else(PoisonError::into_inner) {
            Ok(value) => Ok(value.clone()),
            Err(failure) => Err(failure.to_error()),
        }
    }

    /// From now on, answer `value`.
    pub fn set(&self, value: T) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = Ok(value);
    }

    /// From now on, fail with `SectionError::msg(kind, message)`.
    pub fn set_error(&self, kind: impl Into<String>, message: impl Into<String>) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) =
            Err(ErrorInfo::new(kind, message));
    }

    /// How many answers were given.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl<T: Clone> Clone for Canned<T> {
    /// A copy of the current answer, with its own call counter (at zero).
    fn clone(&self) -> Self {
        Self {
            answer: Mutex::new(
                self.answer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
            calls: AtomicUsize::new(0),
        }
    }
}

impl<T: Clone + Default> Default for Canned<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Canned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canned")
            .field(
                "answer",
                &*self.answer.lock().unwrap_or_else(PoisonError::into_inner),
            )
            .field("calls", &self.calls.load(Ordering::Relaxed))
            .finish()
    }
}
