//! Server functions: the browser's way to the server. Each one reaches the
//! service layer through `AppState` and turns failures into short messages
//! an admin can act on; the detail goes to the log.

pub mod overview;
