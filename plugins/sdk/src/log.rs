//! Logging into the host, with `format!`-style macros.

/// Writes one line to the host's log at `level`. The host truncates long
/// lines and attributes them to the connection and run.
#[doc(hidden)]
pub fn write(level: crate::Level, message: &str) {
    crate::bindings::switchyard::connector::log::log(level, message);
}

/// Logs at an explicit [`Level`](crate::Level): `log!(Level::Info, "{} pages", n)`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::__log_write($level, &::std::format!($($arg)+))
    };
}

/// Logs very detailed tracing.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Trace, $($arg)+) };
}

/// Logs debugging detail.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Debug, $($arg)+) };
}

/// Logs normal progress.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Info, $($arg)+) };
}

/// Logs something unexpected that the connector handled.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Warn, $($arg)+) };
}

/// Logs a failure.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Error, $($arg)+) };
}
