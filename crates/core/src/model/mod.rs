//! Types that travel between server and browser: serde only, no I/O.

mod job_status;
mod tenant;

pub use job_status::{JobStatus, UnknownJobStatus};
pub use tenant::{InvalidTenantSlug, Tenant, TenantId, TenantOverview, TenantSlug};
