use sgp_import_core::config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. The filter was validated as non-empty by
/// the settings; a directive tracing cannot parse is reported as one line.
pub fn init(settings: &LogSettings) -> Result<(), String> {
    let filter = EnvFilter::try_new(&settings.filter)
        .map_err(|e| format!("invalid setting log.filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second init (tests building several apps) keeps the first subscriber.
    let _ = result;
    Ok(())
}
