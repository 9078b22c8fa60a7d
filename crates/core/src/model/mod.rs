//! Types that travel between server and browser: serde only, no I/O.

mod account;
mod change;
mod contract_status;
mod customer;
mod day;
mod instant;
mod integration;
mod job;
mod job_state;
mod job_status;
mod notification;
mod schedule;
mod tenant;

pub use account::{ApiTokenInfo, Email, InvalidEmail, Role, User, UserId};
pub use change::{thousands, ChangeCounts, ChangeKind, ChangePage, CustomerChange};
pub use contract_status::ContractStatus;
pub use customer::{
    CustomerPage, ImportRowError, StoredContract, StoredCustomer, StoredService, CUSTOMER_COUNT_CAP,
};
pub use integration::{ConnectionTest, IntegrationView, Preview};
pub use job::{
    JobDetails, JobId, JobOrigin, JobPage, JobProgress, JobSummary, JobTiming, LogLevel, LogLine,
    StatusCounts, QUEUE_POSITION_COUNTED,
};
pub use job_state::{IllegalTransition, JobEvent};
pub use notification::{
    Channel, Delivery, NotificationEvent, NotificationInput, NotificationSettings,
    NotificationTarget,
};

pub use job_status::{JobStatus, UnknownJobStatus};
pub use schedule::{ScheduleInput, ScheduleView, DEFAULT_PAUSE_AFTER_FAILURES};
pub use tenant::{InvalidTenantSlug, Tenant, TenantId, TenantOverview, TenantSlug};
