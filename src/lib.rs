//! vitals facade
