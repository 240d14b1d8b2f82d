//! Signature stubs of the esp-idf items `firmware/esp32s3` uses, mirroring
//! **esp-idf-svc 0.53.0**, **esp-idf-hal 0.47.0** (re-exported as `hal`) and
//! **esp-idf-sys 0.38.1** (re-exported as `sys`), written from those crates' published
//! sources. Only what the firmware calls is here, with the real names, paths, argument
//! and return types and lifetimes; where the real bounds are traits the firmware never
//! names (`WifiModemPeripheral`, `I2c`, `Uart`, pin traits), they are reduced to the
//! concrete peripheral types it passes. Types the real crate re-exports from
//! `embedded-svc` (WiFi configuration, HTTP `Method`) are the real ones.
//!
//! Every body is `unimplemented!()`: this crate exists so that
//! `cargo check --manifest-path firmware/api-check/Cargo.toml` type-checks the unchanged
//! firmware on a PC. When upgrading esp-idf-svc, update this file from the new sources.
#![allow(clippy::all, missing_docs, dead_code, unused_variables, non_camel_case_types, non_upper_case_globals)]

const STUB: &str = "esp-idf-svc signature stub: for type-checking only";

pub mod sys {
    //! esp-idf-sys 0.38.1 (bindgen output and `EspError`).
    pub type esp_err_t = i32;
    pub type TickType_t = u32;

    /// `esp_idf_sys::EspError`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct EspError(esp_err_t);

    impl core::fmt::Display for EspError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "ESP error {}", self.0)
        }
    }

    impl std::error::Error for EspError {}

    pub struct PatchesRef(*const (), *const ());

    pub fn link_patches() -> PatchesRef {
        unimplemented!("{}", super::STUB)
    }

    pub unsafe extern "C" fn esp_get_free_heap_size() -> u32 {
        unimplemented!("{}", super::STUB)
    }

    pub unsafe extern "C" fn esp_get_minimum_free_heap_size() -> u32 {
        unimplemented!("{}", super::STUB)
    }

    pub unsafe extern "C" fn esp_crt_bundle_attach(conf: *mut core::ffi::c_void) -> esp_err_t {
        unimplemented!("{}", super::STUB)
    }

    impl EspError {
        /// `None` for `ESP_OK`.
        pub fn from(error: esp_err_t) -> Option<Self> {
            unimplemented!("{}", super::STUB)
        }
    }

    // esp_http_client, as bindgen writes it from ESP-IDF v5.3.3's
    // components/esp_http_client/include/esp_http_client.h (enums as `c_uint` type
    // aliases with `<type>_<variant>` constants; `#ifdef` fields present as configured by
    // sdkconfig.defaults: CONFIG_ESP_TLS_CLIENT_SESSION_TICKETS=y). Only the fields and
    // functions the firmware uses; the real config struct has more, all zero by default.
    use core::ffi::{c_char, c_int, c_uint, c_void};

    #[repr(C)]
    pub struct esp_http_client {
        _unused: [u8; 0],
    }
    pub type esp_http_client_handle_t = *mut esp_http_client;
    pub type esp_http_client_method_t = c_uint;
    pub const esp_http_client_method_t_HTTP_METHOD_GET: esp_http_client_method_t = 0;
    pub const esp_http_client_method_t_HTTP_METHOD_POST: esp_http_client_method_t = 1;
    pub const esp_http_client_method_t_HTTP_METHOD_PUT: esp_http_client_method_t = 2;
    pub const esp_http_client_method_t_HTTP_METHOD_DELETE: esp_http_client_method_t = 4;
    pub type esp_http_client_event_id_t = c_uint;
    pub const esp_http_client_event_id_t_HTTP_EVENT_ON_HEADER: esp_http_client_event_id_t = 3;

    #[repr(C)]
    pub struct esp_http_client_event_t {
        pub event_id: esp_http_client_event_id_t,
        pub client: esp_http_client_handle_t,
        pub data: *mut c_void,
        pub data_len: c_int,
        pub user_data: *mut c_void,
        pub header_key: *mut c_char,
        pub header_value: *mut c_char,
    }
    pub type http_event_handle_cb =
        Option<unsafe extern "C" fn(evt: *mut esp_http_client_event_t) -> esp_err_t>;

    #[repr(C)]
    pub struct esp_http_client_config_t {
        pub url: *const c_char,
        pub timeout_ms: c_int,
        pub event_handler: http_event_handle_cb,
        pub buffer_size_tx: c_int,
        pub user_data: *mut c_void,
        pub crt_bundle_attach: Option<unsafe extern "C" fn(conf: *mut c_void) -> esp_err_t>,
        pub keep_alive_enable: bool,
        pub save_client_session: bool,
        // Two of the fields the firmware leaves at their default (it must, as with the
        // real struct, name `..Default::default()`).
        pub method: esp_http_client_method_t,
        pub buffer_size: c_int,
    }
    impl Default for esp_http_client_config_t {
        fn default() -> Self {
            unimplemented!("{}", super::STUB)
        }
    }

    pub unsafe extern "C" fn esp_http_client_init(
        config: *const esp_http_client_config_t,
    ) -> esp_http_client_handle_t {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_set_url(
        client: esp_http_client_handle_t,
        url: *const c_char,
    ) -> esp_err_t {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_set_method(
        client: esp_http_client_handle_t,
        method: esp_http_client_method_t,
    ) -> esp_err_t {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_set_header(
        client: esp_http_client_handle_t,
        key: *const c_char,
        value: *const c_char,
    ) -> esp_err_t {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_delete_header(
        client: esp_http_client_handle_t,
        key: *const c_char,
    ) -> esp_err_t {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_open(
        client: esp_http_client_handle_t,
        write_len: c_int,
    ) -> esp_err_t {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_write(
        client: esp_http_client_handle_t,
        buffer: *const c_char,
        len: c_int,
    ) -> c_int {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_fetch_headers(client: esp_http_client_handle_t) -> i64 {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_read(
        client: esp_http_client_handle_t,
        buffer: *mut c_char,
        len: c_int,
    ) -> c_int {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_get_status_code(client: esp_http_client_handle_t) -> c_int {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_is_complete_data_received(
        client: esp_http_client_handle_t,
    ) -> bool {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_close(client: esp_http_client_handle_t) -> esp_err_t {
        unimplemented!("{}", super::STUB)
    }
    pub unsafe extern "C" fn esp_http_client_cleanup(client: esp_http_client_handle_t) -> esp_err_t {
        unimplemented!("{}", super::STUB)
    }
}

pub mod hal {
    //! esp-idf-hal 0.47.0.
    use crate::sys::EspError;

    pub mod units {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
        pub struct Hertz(pub u32);
    }

    pub mod modem {
        pub struct Modem<'d>(core::marker::PhantomData<&'d mut ()>);
    }

    pub mod gpio {
        use core::marker::PhantomData;

        pub trait InputPin {}
        pub trait OutputPin {}

        pub struct AnyIOPin<'d>(PhantomData<&'d mut ()>);
        impl InputPin for AnyIOPin<'_> {}
        impl OutputPin for AnyIOPin<'_> {}

        macro_rules! pins {
            ($($name:ident $field:ident),*) => {
                $(
                    pub struct $name<'d>(PhantomData<&'d mut ()>);
                    impl InputPin for $name<'_> {}
                    impl OutputPin for $name<'_> {}
                )*
                pub struct Pins {
                    $(pub $field: $name<'static>,)*
                }
            };
        }
        pins!(Gpio8 gpio8, Gpio9 gpio9, Gpio17 gpio17, Gpio18 gpio18);
    }

    pub mod i2c {
        use super::gpio::{InputPin, OutputPin};
        use super::units::Hertz;
        use crate::sys::EspError;

        pub struct I2C0<'d>(core::marker::PhantomData<&'d mut ()>);

        pub mod config {
            #[derive(Debug, Clone, Default)]
            pub struct Config {
                pub baudrate: super::Hertz,
                pub sda_pullup_enabled: bool,
                pub scl_pullup_enabled: bool,
            }
            impl Config {
                pub fn new() -> Self {
                    unimplemented!("{}", crate::STUB)
                }
                #[must_use]
                pub fn baudrate(self, baudrate: super::Hertz) -> Self {
                    unimplemented!("{}", crate::STUB)
                }
            }
        }
        pub type I2cConfig = config::Config;

        pub struct I2cDriver<'d>(core::marker::PhantomData<&'d mut ()>);

        impl<'d> I2cDriver<'d> {
            pub fn new(
                _i2c: I2C0<'d>,
                sda: impl InputPin + OutputPin + 'd,
                scl: impl InputPin + OutputPin + 'd,
                config: &config::Config,
            ) -> Result<Self, EspError> {
                unimplemented!("{}", crate::STUB)
            }
        }

        #[derive(Debug)]
        pub struct I2cError;
        impl embedded_hal::i2c::Error for I2cError {
            fn kind(&self) -> embedded_hal::i2c::ErrorKind {
                embedded_hal::i2c::ErrorKind::Other
            }
        }
        impl embedded_hal::i2c::ErrorType for I2cDriver<'_> {
            type Error = I2cError;
        }
        impl embedded_hal::i2c::I2c<embedded_hal::i2c::SevenBitAddress> for I2cDriver<'_> {
            fn transaction(
                &mut self,
                address: u8,
                operations: &mut [embedded_hal::i2c::Operation<'_>],
            ) -> Result<(), Self::Error> {
                unimplemented!("{}", crate::STUB)
            }
        }
    }

    pub mod uart {
        use super::gpio::{InputPin, OutputPin};
        use crate::sys::{EspError, TickType_t};

        pub struct UART1<'d>(core::marker::PhantomData<&'d mut ()>);

        pub mod config {
            #[derive(Debug, Clone)]
            pub struct Config {
                pub baudrate: super::super::units::Hertz,
                pub rx_fifo_size: usize,
                pub tx_fifo_size: usize,
            }
            impl Config {
                pub fn new() -> Self {
                    unimplemented!("{}", crate::STUB)
                }
                #[must_use]
                pub fn baudrate(self, baudrate: super::super::units::Hertz) -> Self {
                    unimplemented!("{}", crate::STUB)
                }
                #[must_use]
                pub fn rx_fifo_size(self, rx_fifo_size: usize) -> Self {
                    unimplemented!("{}", crate::STUB)
                }
            }
        }

        pub struct UartDriver<'d>(core::marker::PhantomData<&'d mut ()>);

        impl<'d> UartDriver<'d> {
            pub fn new(
                uart: UART1<'d>,
                tx: impl OutputPin + 'd,
                rx: impl InputPin + 'd,
                cts: Option<impl InputPin + 'd>,
                rts: Option<impl OutputPin + 'd>,
                config: &config::Config,
            ) -> Result<Self, EspError> {
                unimplemented!("{}", crate::STUB)
            }

            pub fn read(&self, buf: &mut [u8], timeout: TickType_t) -> Result<usize, EspError> {
                unimplemented!("{}", crate::STUB)
            }
        }
    }

    pub mod delay {
        use crate::sys::TickType_t;

        pub const NON_BLOCK: TickType_t = 0;
        pub const BLOCK: TickType_t = TickType_t::MAX;

        pub struct FreeRtos;
        impl FreeRtos {
            pub fn delay_ms(ms: u32) {
                unimplemented!("{}", crate::STUB)
            }
        }

        #[derive(Copy, Clone)]
        pub struct Delay(u32);
        impl Delay {
            pub const fn new_default() -> Self {
                Self(1000)
            }
            pub const fn new(threshold_us: u32) -> Self {
                Self(threshold_us)
            }
        }
        impl embedded_hal::delay::DelayNs for Delay {
            fn delay_ns(&mut self, ns: u32) {
                unimplemented!("{}", crate::STUB)
            }
        }
    }

    pub mod reset {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ResetReason {
            Software,
            ExternalPin,
            Watchdog,
            Sdio,
            Panic,
            InterruptWatchdog,
            PowerOn,
            Unknown,
            Brownout,
            TaskWatchdog,
            DeepSleep,
            USBPeripheral,
            JTAG,
            EfuseError,
            PowerGlitch,
            CPULockup,
        }
        impl ResetReason {
            pub fn get() -> Self {
                unimplemented!("{}", crate::STUB)
            }
        }
        pub fn restart() -> ! {
            unimplemented!("{}", crate::STUB)
        }
    }

    pub mod task {
        pub mod watchdog {
            use crate::sys::EspError;
            use core::marker::PhantomData;

            pub struct TWDT<'d>(PhantomData<&'d mut ()>);

            pub mod config {
                /// `enumset::EnumSet<Core>` in the real crate; the firmware only uses
                /// `..TWDTConfig::new()` for it.
                #[derive(Clone, Default)]
                pub struct CoreSet(u8);

                #[derive(Clone)]
                pub struct Config {
                    pub duration: core::time::Duration,
                    pub panic_on_trigger: bool,
                    pub subscribed_idle_tasks: CoreSet,
                }
                impl Config {
                    pub fn new() -> Self {
                        unimplemented!("{}", crate::STUB)
                    }
                }
            }
            pub type TWDTConfig = config::Config;

            pub struct TWDTDriver<'d>(PhantomData<&'d mut ()>);
            impl<'d> TWDTDriver<'d> {
                pub fn new(_twdt: TWDT<'d>, config: &config::Config) -> Result<Self, EspError> {
                    unimplemented!("{}", crate::STUB)
                }
                pub fn watch_current_task(&mut self) -> Result<WatchdogSubscription<'_>, EspError> {
                    unimplemented!("{}", crate::STUB)
                }
            }

            pub struct WatchdogSubscription<'s>(PhantomData<&'s mut ()>);
            impl WatchdogSubscription<'_> {
                pub fn feed(&mut self) -> Result<(), EspError> {
                    unimplemented!("{}", crate::STUB)
                }
            }
        }
    }

    pub mod peripherals {
        use crate::sys::EspError;

        pub struct Peripherals {
            pub pins: super::gpio::Pins,
            pub uart1: super::uart::UART1<'static>,
            pub i2c0: super::i2c::I2C0<'static>,
            pub modem: super::modem::Modem<'static>,
            pub twdt: super::task::watchdog::TWDT<'static>,
        }
        impl Peripherals {
            pub fn take() -> Result<Self, EspError> {
                unimplemented!("{}", crate::STUB)
            }
        }
    }

    // Keep `EspError` reachable as in the real crate (`esp_idf_hal::sys::EspError`).
    pub use crate::sys;
    #[allow(unused_imports)]
    use EspError as _;
}

pub mod log {
    pub struct EspLogger;
    impl EspLogger {
        pub fn initialize_default() {
            unimplemented!("{}", crate::STUB)
        }
    }
}

pub mod eventloop {
    use crate::sys::EspError;

    #[derive(Clone)]
    pub struct EspSystemEventLoop(());
    impl EspSystemEventLoop {
        pub fn take() -> Result<Self, EspError> {
            unimplemented!("{}", crate::STUB)
        }
    }
}

pub mod nvs {
    use crate::sys::EspError;
    use std::sync::Arc;

    pub trait NvsPartitionId {
        fn is_default(&self) -> bool {
            false
        }
        fn name(&self) -> &core::ffi::CStr;
    }
    pub struct NvsDefault(());
    pub struct NvsEncrypted(());
    impl NvsPartitionId for NvsDefault {
        fn name(&self) -> &core::ffi::CStr {
            c"nvs"
        }
    }
    impl NvsPartitionId for NvsEncrypted {
        fn name(&self) -> &core::ffi::CStr {
            c"nvs"
        }
    }

    pub struct EspNvsPartition<T: NvsPartitionId>(Arc<T>);
    pub type EspDefaultNvsPartition = EspNvsPartition<NvsDefault>;
    pub type EspEncryptedNvsPartition = EspNvsPartition<NvsEncrypted>;

    impl EspNvsPartition<NvsDefault> {
        pub fn take() -> Result<Self, EspError> {
            unimplemented!("{}", crate::STUB)
        }
    }
    impl EspNvsPartition<NvsEncrypted> {
        pub fn take(partition: &str, keys_partition: Option<&str>) -> Result<Self, EspError> {
            unimplemented!("{}", crate::STUB)
        }
    }

    pub struct EspNvs<T: NvsPartitionId>(EspNvsPartition<T>, u32);
    impl<T: NvsPartitionId> EspNvs<T> {
        pub fn new(
            partition: EspNvsPartition<T>,
            namespace: &str,
            read_write: bool,
        ) -> Result<Self, EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn get_str<'a>(&self, name: &str, buf: &'a mut [u8]) -> Result<Option<&'a str>, EspError> {
            unimplemented!("{}", crate::STUB)
        }
    }
}

pub mod sntp {
    use crate::sys::EspError;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum SyncStatus {
        Reset,
        Completed,
        InProgress,
    }

    pub struct EspSntp<'a>(core::marker::PhantomData<&'a ()>);
    impl EspSntp<'static> {
        pub fn new_default() -> Result<Self, EspError> {
            unimplemented!("{}", crate::STUB)
        }
    }
    impl EspSntp<'_> {
        pub fn get_sync_status(&self) -> SyncStatus {
            unimplemented!("{}", crate::STUB)
        }
    }
}

pub mod wifi {
    use crate::eventloop::EspSystemEventLoop;
    use crate::hal::modem::Modem;
    use crate::nvs::EspDefaultNvsPartition;
    use crate::sys::EspError;

    pub use embedded_svc::wifi::{AuthMethod, ClientConfiguration, Configuration};

    pub struct EspWifi<'d>(core::marker::PhantomData<&'d mut ()>);
    impl<'d> EspWifi<'d> {
        pub fn new(
            modem: Modem<'d>,
            sysloop: EspSystemEventLoop,
            nvs: Option<EspDefaultNvsPartition>,
        ) -> Result<Self, EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn connect(&mut self) -> Result<(), EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn get_rssi(&self) -> Result<i32, EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn is_up(&self) -> Result<bool, EspError> {
            unimplemented!("{}", crate::STUB)
        }
    }

    pub struct BlockingWifi<T> {
        wifi: T,
        event_loop: EspSystemEventLoop,
    }
    impl<'d> BlockingWifi<EspWifi<'d>> {
        pub fn wrap(wifi: EspWifi<'d>, event_loop: EspSystemEventLoop) -> Result<Self, EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn wifi(&self) -> &EspWifi<'d> {
            &self.wifi
        }
        pub fn wifi_mut(&mut self) -> &mut EspWifi<'d> {
            &mut self.wifi
        }
        pub fn set_configuration(&mut self, conf: &Configuration) -> Result<(), EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn start(&mut self) -> Result<(), EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn stop(&mut self) -> Result<(), EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn is_up(&self) -> Result<bool, EspError> {
            unimplemented!("{}", crate::STUB)
        }
    }
}

pub mod fs {
    pub mod littlefs {
        use crate::sys::EspError;

        pub struct Littlefs<T>(core::marker::PhantomData<T>);
        impl<T> Littlefs<T> {
            pub unsafe fn new_partition(partition_label: &str) -> Result<Self, EspError> {
                unimplemented!("{}", crate::STUB)
            }
            pub fn format(&mut self) -> Result<(), EspError> {
                unimplemented!("{}", crate::STUB)
            }
        }
    }
}

pub mod partition {
    //! `esp_idf_svc::partition` (cfg: the `esp_partition` component, always in IDF 5).
    use crate::sys::EspError;

    /// `#[repr(transparent)] EspPartition(*const esp_partition_t)` in the real crate.
    #[repr(transparent)]
    pub struct EspPartition(*const core::ffi::c_void);

    unsafe impl Send for EspPartition {}

    impl EspPartition {
        /// `cfg(feature = "alloc")` in the real crate; `None` if no partition has `label`.
        pub unsafe fn new(label: &str) -> Result<Option<Self>, EspError> {
            unimplemented!("{}", crate::STUB)
        }
        pub fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), EspError> {
            unimplemented!("{}", crate::STUB)
        }
    }
}

pub mod io {
    /// `esp_idf_hal::io::EspIOError`, re-exported by `esp_idf_svc::io`.
    #[derive(Debug)]
    pub struct EspIOError(pub crate::sys::EspError);
    impl core::fmt::Display for EspIOError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            self.0.fmt(f)
        }
    }
    impl std::error::Error for EspIOError {}
    impl embedded_io::Error for EspIOError {
        fn kind(&self) -> embedded_io::ErrorKind {
            embedded_io::ErrorKind::Other
        }
    }

    pub mod vfs {
        use crate::fs::littlefs::Littlefs;
        use crate::sys::EspError;

        pub struct MountedLittlefs<T>(T);
        impl<T> MountedLittlefs<T> {
            pub fn mount<H>(littlefs: T, path: &str) -> Result<Self, EspError>
            where
                T: core::borrow::BorrowMut<Littlefs<H>>,
            {
                unimplemented!("{}", crate::STUB)
            }
        }
    }
}

pub mod http {
    pub use embedded_svc::http::Method;

    pub mod client {
        use crate::sys::{esp_err_t, EspError};

        #[derive(Default)]
        pub struct Configuration {
            pub buffer_size: Option<usize>,
            pub buffer_size_tx: Option<usize>,
            pub timeout: Option<core::time::Duration>,
            pub follow_redirects_policy: u8,
            pub client_certificate: Option<()>,
            pub private_key: Option<()>,
            pub use_global_ca_store: bool,
            pub crt_bundle_attach:
                Option<unsafe extern "C" fn(conf: *mut core::ffi::c_void) -> esp_err_t>,
            pub raw_request_body: bool,
        }

        pub struct EspHttpConnection(());
        impl EspHttpConnection {
            pub fn new(configuration: &Configuration) -> Result<Self, EspError> {
                unimplemented!("{}", crate::STUB)
            }
            pub fn status(&self) -> u16 {
                unimplemented!("{}", crate::STUB)
            }
            pub fn header(&self, name: &str) -> Option<&str> {
                unimplemented!("{}", crate::STUB)
            }
            pub fn initiate_request<'a>(
                &'a mut self,
                method: super::Method,
                uri: &'a str,
                headers: &'a [(&'a str, &'a str)],
            ) -> Result<(), EspError> {
                unimplemented!("{}", crate::STUB)
            }
            pub fn initiate_response(&mut self) -> Result<(), EspError> {
                unimplemented!("{}", crate::STUB)
            }
            pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, EspError> {
                unimplemented!("{}", crate::STUB)
            }
            pub fn write(&mut self, buf: &[u8]) -> Result<usize, EspError> {
                unimplemented!("{}", crate::STUB)
            }
            pub fn write_all(&mut self, data: &[u8]) -> Result<(), EspError> {
                unimplemented!("{}", crate::STUB)
            }
        }

        // The embedded-svc / embedded-io traits the real connection implements, with
        // the real associated types.
        impl embedded_svc::http::Status for EspHttpConnection {
            fn status(&self) -> u16 {
                unimplemented!("{}", crate::STUB)
            }
            fn status_message(&self) -> Option<&str> {
                unimplemented!("{}", crate::STUB)
            }
        }
        impl embedded_svc::http::Headers for EspHttpConnection {
            fn header(&self, name: &str) -> Option<&str> {
                unimplemented!("{}", crate::STUB)
            }
        }
        impl embedded_io::ErrorType for EspHttpConnection {
            type Error = crate::io::EspIOError;
        }
        impl embedded_io::Read for EspHttpConnection {
            fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
                unimplemented!("{}", crate::STUB)
            }
        }
        impl embedded_io::Write for EspHttpConnection {
            fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
                unimplemented!("{}", crate::STUB)
            }
            fn flush(&mut self) -> Result<(), Self::Error> {
                unimplemented!("{}", crate::STUB)
            }
        }
        impl embedded_svc::http::client::Connection for EspHttpConnection {
            type Headers = Self;
            type Read = Self;
            type RawConnectionError = crate::io::EspIOError;
            type RawConnection = Self;
            fn initiate_request<'a>(
                &'a mut self,
                method: super::Method,
                uri: &'a str,
                headers: &'a [(&'a str, &'a str)],
            ) -> Result<(), Self::Error> {
                unimplemented!("{}", crate::STUB)
            }
            fn is_request_initiated(&self) -> bool {
                unimplemented!("{}", crate::STUB)
            }
            fn initiate_response(&mut self) -> Result<(), Self::Error> {
                unimplemented!("{}", crate::STUB)
            }
            fn is_response_initiated(&self) -> bool {
                unimplemented!("{}", crate::STUB)
            }
            fn split(&mut self) -> (&Self::Headers, &mut Self::Read) {
                unimplemented!("{}", crate::STUB)
            }
            fn raw_connection(&mut self) -> Result<&mut Self::RawConnection, Self::Error> {
                unimplemented!("{}", crate::STUB)
            }
        }
    }
}
