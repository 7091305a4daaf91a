//! dashboards: placeholder.
